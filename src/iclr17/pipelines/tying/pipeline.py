"""The ``tying`` DAGs: one pipeline per Table 1 variant (``tying_baseline``, ``tying_al``,
``tying_re``, ``tying_real``), each its own Kedro run and so its own MLflow run, and
``tying_report``, which puts the four side by side; ``kedro variants tying`` runs them all.

Training checkpoints every epoch (``tying.<variant>.checkpoints``) and resumes from the last
one; +AL and +REAL read their parent's checkpoints too (``tying.baseline.checkpoints`` /
``tying.re.checkpoints``) and start from its state at the epoch before the augmented loss starts
when it is there, so the epochs the two share are trained once.

Each variant pipeline reads top to bottom: PTB data prep (shared ``ptb.*`` datasets) ->
training -> evaluation (best-epoch valid/test perplexity, curves, paper_vs_run)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline

from iclr17.common.lm.pipeline import ptb_data_prep
from iclr17.common.pipeline import stage_node_factory

from . import nodes

VARIANTS = ("baseline", "al", "re", "real")
_n = stage_node_factory("tying")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def _bound(func, variant: str):
    """``func`` with its first argument, the variant, bound (a node's function keeps its name)."""
    return update_wrapper(partial(func, variant), func)


def _evaluation(variant: str) -> list:
    v = f"tying.{variant}"
    return [
        _n(
            nodes.evaluate_variant,
            ["ptb_corpus", f"{v}.weights", f"{v}.record", "params:tying.final_eval_batch_size", "params:tying.device"],
            f"{v}.results",
            f"evaluate_{variant}",
            "evaluation",
        ),
        _n(
            nodes.variant_summary,
            [f"{v}.results", f"{v}.record", "params:tying.paper"],
            [f"{v}.paper_vs_run", f"{v}.paper_vs_run_md", f"{v}.metrics", f"{v}.learning_curves"],
            f"summary_{variant}",
            "evaluation",
        ),
    ]


_PARAMS = ["params:tying.size", "params:tying.sizes", "params:tying.variants", "params:tying.seed", "params:tying.device"]


def create_pipeline(variant: str, **kwargs) -> Pipeline:
    """One variant: PTB prep, training (checkpointed; +AL / +REAL also read their parent's
    checkpoints), evaluation."""
    _check_variant(variant)
    v = f"tying.{variant}"
    inputs = ["ptb_corpus", *_PARAMS, f"{v}.checkpoints"]
    if variant in nodes.PARENTS:
        inputs.append(f"tying.{nodes.PARENTS[variant]}.checkpoints")
    train = _bound(nodes.train_variant, variant)
    return ptb_data_prep() + Pipeline(
        [_n(train, inputs, [f"{v}.weights", f"{v}.record"], f"train_{variant}", "training"), *_evaluation(variant)]
    )


def create_report_pipeline(variants: tuple[str, ...] = VARIANTS, **kwargs) -> Pipeline:
    return Pipeline(
        [
            _n(
                nodes.report,
                ["params:tying.paper", *[f"tying.{v}.results" for v in variants], *[f"tying.{v}.record" for v in variants]],
                ["tying.paper_vs_run", "tying.paper_vs_run_md", "tying.ordering", "tying.learning_curves"],
                "report",
                "evaluation",
            )
        ]
    )
