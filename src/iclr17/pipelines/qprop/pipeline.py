"""The ``qprop`` DAG (Gu et al., Table 1 on one task): ``<group>.prep`` (the task's description),
one namespace per algorithm (training over seeds, then its curves and paper_vs_run) and
``<group>.report`` (the algorithms side by side).  ``kedro run --pipeline=qprop`` runs each
namespace in turn as its own Kedro session and MLflow run (``qprop_prep``, ``qprop_trpo``,
``qprop_qprop_c``, ``qprop_report``): Reacher with TRPO and conservative Q-Prop, the default;
``qprop_<task>`` runs every algorithm (TRPO, both Q-Prop variants, DDPG) on one task."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import bound, stage_node_factory

from . import nodes

ALGORITHMS = tuple(nodes.ALGORITHMS)
TASKS = ("reacher", "swimmer", "inverted_pendulum", "half_cheetah", "hopper", "walker2d", "ant", "humanoid")
# pipeline name -> (task, the algorithms it trains); the default fits an hour on two cores
GROUPS = {"qprop": ("reacher", ("trpo", "qprop_c")), **{f"qprop_{t}": (t, ALGORITHMS) for t in TASKS}}
_P = "params:qprop"


def _prep(group: str) -> Pipeline:
    task = GROUPS[group][0]
    return Pipeline([stage_node_factory(f"{group}.prep")(
        nodes.describe_task, f"{_P}.tasks.{task}", f"qprop.{task}.spec", "describe_task", "data_prep")])


def algorithm_pipeline(group: str, algorithm: str) -> Pipeline:
    """One algorithm in namespace ``<group>.<algorithm>``: training over seeds, then evaluation."""
    task, algorithms = GROUPS[group]
    if algorithm not in algorithms:
        raise ValueError(f"{group}'s algorithms are {algorithms}, got {algorithm!r}")
    n, t = stage_node_factory(f"{group}.{algorithm}"), f"qprop.{task}"
    a = f"{t}.{algorithm}"
    return Pipeline([
        n(bound(nodes.train_algorithm, algorithm, task),
          [f"{t}.spec", f"{_P}.tasks.{task}", f"{_P}.seeds", f"{_P}.policy", f"{_P}.trpo", f"{_P}.critic", f"{_P}.ddpg",
           f"{_P}.training", f"{t}.checkpoints"], f"{a}.result", "train", "training"),
        n(bound(nodes.algorithm_summary, algorithm), [f"{a}.result", f"{_P}.paper"],
          [f"{a}.evaluation", f"{a}.paper_vs_run", f"{a}.paper_vs_run_md", f"{a}.metrics", f"{a}.learning_curves"],
          "summary", "evaluation"),
    ])


def report_pipeline(group: str) -> Pipeline:
    """``<group>.report``: the group's algorithms on one plot and one table."""
    task, algorithms = GROUPS[group]
    t = f"qprop.{task}"
    return Pipeline([stage_node_factory(f"{group}.report")(
        nodes.report, [f"{_P}.paper", *[f"{t}.{a}.evaluation" for a in algorithms], *[f"{t}.{a}.result" for a in algorithms]],
        [f"{t}.{group}_report.{o}" for o in ("paper_vs_run", "paper_vs_run_md", "summary", "learning_curves")],
        "table", "evaluation")])


def create_pipeline(group: str = "qprop", **kwargs) -> Pipeline:
    """One group: its prep, every algorithm, the report."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {sorted(GROUPS)}, got {group!r}")
    return _prep(group) + sum((algorithm_pipeline(group, a) for a in GROUPS[group][1]), Pipeline([])) + report_pipeline(group)
