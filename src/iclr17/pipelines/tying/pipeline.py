"""The ``tying`` DAG: Table 1's four variants, each in its namespace ``tying.<variant>``
(baseline, al, re, real), after the PTB prep ``tying.prep`` and before ``tying.report``, which puts
the four side by side.  ``kedro run --pipeline=tying`` runs each namespace in turn as its own Kedro
session and MLflow run (``tying_prep``, ``tying_baseline``, ..., ``tying_report``);
``--namespaces=tying.al`` runs one.

Training checkpoints every epoch (``tying.<variant>.checkpoints``) and resumes from the last one;
+AL and +REAL read their parent's checkpoints too and start from its state at the epoch before the
augmented loss starts when it is there, so the epochs the two share are trained once."""

from kedro.pipeline import Pipeline

from iclr17.common.lm.pipeline import ptb_data_prep
from iclr17.common.pipeline import bound, stage_node_factory

from . import nodes

VARIANTS = ("baseline", "al", "re", "real")  # Table 1's rows
_PARAMS = ["params:tying.size", "params:tying.sizes", "params:tying.variants", "params:tying.seed", "params:tying.device"]


def variant_pipeline(variant: str) -> Pipeline:
    """One variant in namespace ``tying.<variant>``: training (checkpointed; +AL / +REAL also read
    their parent's checkpoints), then evaluation (best-epoch perplexity, curves, paper_vs_run)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    v, n = f"tying.{variant}", stage_node_factory(f"tying.{variant}")
    inputs = ["ptb_corpus", *_PARAMS, f"{v}.checkpoints"]
    if variant in nodes.PARENTS:
        inputs.append(f"tying.{nodes.PARENTS[variant]}.checkpoints")
    return Pipeline([
        n(bound(nodes.train_variant, variant), inputs, [f"{v}.weights", f"{v}.record"], "train", "training"),
        n(nodes.evaluate_variant, ["ptb_corpus", f"{v}.weights", f"{v}.record", "params:tying.final_eval_batch_size",
                                   "params:tying.device"], f"{v}.results", "evaluate", "evaluation"),
        n(nodes.variant_summary, [f"{v}.results", f"{v}.record", "params:tying.paper"],
          [f"{v}.paper_vs_run", f"{v}.paper_vs_run_md", f"{v}.metrics", f"{v}.learning_curves"], "summary", "evaluation"),
    ])


def report_pipeline(variants: tuple[str, ...] = VARIANTS) -> Pipeline:
    """``tying.report``: the variants' results side by side, with Table 1's ordering checked."""
    return Pipeline([
        stage_node_factory("tying.report")(
            nodes.report,
            ["params:tying.paper", *[f"tying.{v}.results" for v in variants], *[f"tying.{v}.record" for v in variants]],
            ["tying.paper_vs_run", "tying.paper_vs_run_md", "tying.ordering", "tying.learning_curves"],
            "table1", "evaluation",
        )
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """The paper: PTB prep (``tying.prep``), the four variants, the report."""
    return ptb_data_prep("tying.prep") + sum((variant_pipeline(v) for v in VARIANTS), Pipeline([])) + report_pipeline()
