"""The ``noising`` DAG: ``noising.prep`` (PTB and its bigram statistics), one namespace per run of
``noising.runs`` (``noising.none``, ``noising.blank``, ``noising.unigram``, ``noising.bigram_kn``)
and ``noising.report``.  ``kedro run --pipeline=noising`` runs each namespace in turn as its own
Kedro session and MLflow run (``noising_prep``, ``noising_none``, ..., ``noising_report``)."""

from kedro.pipeline import Pipeline

from iclr17.common.lm.pipeline import ptb_data_prep
from iclr17.common.pipeline import bound, stage_node_factory

from . import nodes

SCHEME_RUNS = ("none", "blank", "unigram", "bigram_kn")


def _prep() -> Pipeline:
    """``noising.prep``: the PTB corpus and the bigram statistics of its training split."""
    return ptb_data_prep("noising.prep") + Pipeline([stage_node_factory("noising.prep")(
        nodes.noising_statistics, "ptb_corpus", ["noising.bigram_stats", "noising.bigram_summary"],
        "bigram_statistics", "data_prep")])


def scheme_pipeline(run: str) -> Pipeline:
    """One noising scheme in namespace ``noising.<run>``: training, then evaluation."""
    if run not in SCHEME_RUNS:
        raise ValueError(f"run must be one of {SCHEME_RUNS}, got {run!r}")
    v, n = f"noising.{run}", stage_node_factory(f"noising.{run}")
    return Pipeline([
        n(bound(nodes.train_scheme, run), ["ptb_corpus", "noising.bigram_stats", "params:noising.size", "params:noising.sizes",
                  "params:noising.runs", "params:noising.seed", "params:noising.device", f"{v}.checkpoints"],
          [f"{v}.weights", f"{v}.record"], "train", "training"),
        n(nodes.evaluate_scheme, ["ptb_corpus", f"{v}.weights", f"{v}.record",
                                  "params:noising.final_eval_batch_size", "params:noising.device"],
          f"{v}.results", "evaluate", "evaluation"),
        n(nodes.scheme_summary, [f"{v}.results", f"{v}.record", "params:noising.paper"],
          [f"{v}.paper_vs_run", f"{v}.paper_vs_run_md", f"{v}.metrics", f"{v}.learning_curves"],
          "summary", "evaluation"),
    ])


def report_pipeline(runs: tuple[str, ...] = SCHEME_RUNS) -> Pipeline:
    """``noising.report``: the schemes side by side."""
    return Pipeline([stage_node_factory("noising.report")(
        nodes.report, ["params:noising.paper", *[f"noising.{r}.results" for r in runs],
                       *[f"noising.{r}.record" for r in runs]],
        ["noising.paper_vs_run", "noising.paper_vs_run_md", "noising.summary", "noising.learning_curves"],
        "table", "evaluation")])


def create_pipeline(**kwargs) -> Pipeline:
    """The paper: PTB prep and bigram statistics, the four schemes, the report."""
    return _prep() + sum((scheme_pipeline(r) for r in SCHEME_RUNS), Pipeline([])) \
        + report_pipeline()
