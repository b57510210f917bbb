"""Helpers every pipeline's DAG uses."""

from collections.abc import Callable
from functools import partial, update_wrapper

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


def bound(func: Callable, *args) -> Callable:
    """``func`` with its first arguments bound (a variant, a shot), keeping its name, so one node
    function serves every variant of a DAG."""
    return update_wrapper(partial(func, *args), func)
