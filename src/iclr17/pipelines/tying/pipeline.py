"""The ``tying`` DAGs: one pipeline per Table 1 variant (``tying_baseline``, ``tying_al``,
``tying_re``, ``tying_real``), each its own Kedro run and so its own MLflow run, and
``tying_report``, which puts the four side by side.  ``tying_al_from_baseline`` and
``tying_real_from_re`` train +AL and +REAL on from the branch point that ``tying_baseline`` and
``tying_re`` save (the end of the epoch before the augmented loss starts; until then the runs are
the same): ``kedro variants tying`` runs those, after their parents, then the report.
``tying_<variant>_part`` and ``tying_<variant>_finish`` split one variant's run into parts that fit
the time one has (each part goes on from the previous part's checkpoint, through the catalog):
``--params tying.until_epoch=N`` says where a part ends; the finish trains the rest and evaluates.
``tying_al_part_from_baseline`` / ``tying_real_part_from_re``: the first part of +AL / +REAL on from
the parent's part checkpoint at the epoch before the augmented loss starts (trained once for both).

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


def _parent(variant: str) -> str:
    """The variant whose first epochs augmented-loss variant ``variant`` shares."""
    if variant not in nodes.PARENTS:
        raise ValueError(f"variant must be one of {tuple(nodes.PARENTS)}, got {variant!r}")
    return nodes.PARENTS[variant]


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
    """One variant from scratch; a variant without the augmented loss also saves its branch point."""
    _check_variant(variant)
    v = f"tying.{variant}"
    parent = variant in nodes.PARENTS.values()
    func = nodes.train_parent if parent else nodes.train_variant
    outputs = [f"{v}.weights", f"{v}.record"] + ([f"{v}.branch_point"] if parent else [])
    train = _bound(func, variant)
    return ptb_data_prep() + Pipeline(
        [_n(train, ["ptb_corpus", *_PARAMS], outputs, f"train_{variant}", "training"), *_evaluation(variant)]
    )


def create_branch_pipeline(variant: str, **kwargs) -> Pipeline:
    """Augmented-loss variant ``variant`` trained on from its parent's branch point (the parent's
    pipeline, ``tying_baseline`` or ``tying_re``, must have run with the same parameters): its
    epochs before the augmented loss starts are not trained again."""
    parent = _parent(variant)
    train = _bound(nodes.train_branch, variant)
    v = f"tying.{variant}"
    return ptb_data_prep() + Pipeline(
        [
            _n(train, ["ptb_corpus", f"tying.{parent}.branch_point", *_PARAMS], [f"{v}.weights", f"{v}.record"],
               f"train_{variant}_from_{parent}", "training"),
            *_evaluation(variant),
        ]
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


def create_part_pipeline(variant: str, **kwargs) -> Pipeline:
    """One part of ``variant``'s run: from its checkpoint (none: from scratch) to the end of epoch
    ``tying.until_epoch``, saved as its new checkpoint, with the per-epoch metrics so far."""
    _check_variant(variant)
    v = f"tying.{variant}"
    train = _bound(nodes.train_part, variant)
    return ptb_data_prep() + Pipeline(
        [_n(train, ["ptb_corpus", f"{v}.previous_checkpoint", "params:tying.until_epoch", *_PARAMS],
            [f"{v}.checkpoint", f"{v}.metrics"], f"train_{variant}_part", "training")]
    )


def create_part_branch_pipeline(variant: str, **kwargs) -> Pipeline:
    """The first part of augmented-loss variant ``variant``, on from its parent's part checkpoint
    (``tying_baseline_part`` / ``tying_re_part`` run to the epoch before the augmented loss starts):
    those epochs are not trained again.  Later parts and the finish are ``tying_<variant>_part`` and
    ``tying_<variant>_finish``, from the checkpoint this part saves."""
    parent = _parent(variant)
    train = _bound(nodes.train_part_branch, variant)
    v = f"tying.{variant}"
    return ptb_data_prep() + Pipeline(
        [_n(train, ["ptb_corpus", f"tying.{parent}.previous_checkpoint", "params:tying.until_epoch", *_PARAMS],
            [f"{v}.checkpoint", f"{v}.metrics"], f"train_{variant}_part_from_{parent}", "training")]
    )


def create_finish_pipeline(variant: str, **kwargs) -> Pipeline:
    """The last part of ``variant``'s run, from its checkpoint to the last epoch, then the same
    evaluation as ``tying_<variant>``."""
    _check_variant(variant)
    v = f"tying.{variant}"
    train = _bound(nodes.train_finish, variant)
    return ptb_data_prep() + Pipeline(
        [_n(train, ["ptb_corpus", f"{v}.previous_checkpoint", *_PARAMS], [f"{v}.weights", f"{v}.record"],
            f"train_{variant}_finish", "training"), *_evaluation(variant)]
    )
