"""Helpers every pipeline's DAG uses."""

from collections.abc import Callable

from kedro.pipeline import Node

STAGES = ("data_prep", "training", "evaluation")


def stage_node_factory(namespace: str) -> Callable[..., Node]:
    """``node(func, inputs, outputs, name, stage)``: a node in ``namespace`` tagged with its stage
    (data_prep / training / evaluation), which kedro-viz shows and ``--tags`` selects."""

    def node(func, inputs, outputs, name: str, stage: str) -> Node:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        return Node(func, inputs, outputs, name=name, tags=[stage], namespace=namespace)

    return node
