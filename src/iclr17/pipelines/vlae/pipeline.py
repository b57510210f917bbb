"""The ``vlae`` DAG (Chen et al., Appendix D's ablation on each dataset): ``<group>.prep`` (the
binary images), one namespace per model of ``VARIANTS`` (training, importance-sampled test NLL,
the lossy grid, its paper_vs_run) and ``<group>.report`` (the models side by side).
``kedro run --pipeline=vlae`` runs each namespace in turn as its own Kedro session and MLflow run
(``vlae_prep``, ``vlae_af``, ..., ``vlae_report``); ``vlae_dynamic`` and ``vlae_caltech`` are the
same DAG on dynamically binarised MNIST (Table 2) and Caltech-101 Silhouettes (Table 4);
``vlae_receptive_field`` trains the AF-prior model with a smaller and a larger decoder receptive
field and sets the KL of each beside ``vlae``'s (run ``vlae`` first)."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import bound, stage_node_factory

from . import nodes

# Appendix D's rows, best last: the unconditional PixelCNN, + a Gaussian prior, + the AF prior;
# the IAF posterior (with a Gaussian prior) is the paper's section 5.1 comparison
VARIANTS = ("af", "gaussian", "pixelcnn", "iaf")
# the AF-prior model with other decoders: how much the latent carries against the receptive field
RECEPTIVE_FIELDS = ("rf_small", "rf_large")
# pipeline name -> (dataset, its raw catalog entries, the models it trains)
GROUPS = {
    "vlae": ("static_mnist", ["vlae.raw_static_mnist"], VARIANTS),
    "vlae_dynamic": ("dynamic_mnist", ["vlae.raw_mnist"], VARIANTS),
    "vlae_caltech": ("caltech101_silhouettes", ["vlae.raw_caltech101_silhouettes"], VARIANTS),
    "vlae_receptive_field": ("static_mnist", ["vlae.raw_static_mnist"], RECEPTIVE_FIELDS),
}
_P = "params:vlae"


def _prep(group: str) -> Pipeline:
    dataset, raw, _ = GROUPS[group]
    return Pipeline([stage_node_factory(f"{group}.prep")(
        bound(nodes.prepare_data, dataset), raw, [f"vlae.{dataset}.data", f"vlae.{dataset}.data_stats"],
        "prepare_data", "data_prep")])


def variant_pipeline(group: str, variant: str) -> Pipeline:
    """One model in namespace ``<group>.<variant>``: training, then evaluation."""
    if variant not in GROUPS[group][2]:
        raise ValueError(f"{group}'s variants are {GROUPS[group][2]}, got {variant!r}")
    d, n = f"vlae.{GROUPS[group][0]}", stage_node_factory(f"{group}.{variant}")
    v = f"{d}.{variant}"
    return Pipeline([
        n(bound(nodes.train_variant, variant), [f"{d}.data", f"{_P}.model", f"{_P}.variants", f"{_P}.training",
                                                f"{_P}.seed", f"{_P}.device", f"{d}.checkpoints"],
          f"{v}.run", "train", "training"),
        n(nodes.evaluate_vlae, [f"{v}.run", f"{d}.data", f"{_P}.evaluation", f"{_P}.seed", f"{_P}.device"],
          f"{v}.evaluation", "evaluate", "evaluation"),
        n(nodes.lossy_figure, [f"{v}.run", f"{d}.data", f"{_P}.evaluation", f"{_P}.seed"], f"{v}.lossy_grid",
          "lossy_grid", "evaluation"),
        n(bound(nodes.variant_summary, variant), [f"{v}.evaluation", f"{v}.run", f"{_P}.paper"],
          [f"{v}.paper_vs_run", f"{v}.paper_vs_run_md", f"{v}.metrics", f"{v}.learning_curves"],
          "summary", "evaluation"),
    ])


def report_pipeline(group: str) -> Pipeline:
    """``<group>.report``: every model of the dataset side by side (Appendix D's ordering), or the
    receptive fields' (with ``vlae``'s AF-prior model between them)."""
    d, variants = f"vlae.{GROUPS[group][0]}", GROUPS[group][2]
    if group == "vlae_receptive_field":
        variants, name, func = ("rf_small", "af", "rf_large"), "receptive_field", nodes.receptive_field_report
    else:
        name, func = "ablation", nodes.report
    return Pipeline([stage_node_factory(f"{group}.report")(
        func, [f"{_P}.paper", *[f"{d}.{v}.evaluation" for v in variants], *[f"{d}.{v}.run" for v in variants]],
        [f"{d}.{name}.{o}" for o in ("paper_vs_run", "paper_vs_run_md", "summary", "learning_curves")],
        "table", "evaluation")])


def create_pipeline(group: str = "vlae", **kwargs) -> Pipeline:
    """One group's table: its prep, every model, the report."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {sorted(GROUPS)}, got {group!r}")
    return _prep(group) + sum((variant_pipeline(group, v) for v in GROUPS[group][2]), Pipeline([])) \
        + report_pipeline(group)
