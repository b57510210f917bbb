"""The ``noising`` DAGs: one pipeline per run of ``noising.runs`` (``noising_none``,
``noising_blank``, ``noising_unigram``, ``noising_bigram_kn``), each its own Kedro run and MLflow
run, and ``noising_report``; ``kedro variants noising`` runs them all."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline

from iclr17.common.lm.pipeline import ptb_data_prep
from iclr17.common.pipeline import stage_node_factory

from . import nodes

SCHEME_RUNS = ("none", "blank", "unigram", "bigram_kn")
_n = stage_node_factory("noising")


def _statistics() -> Pipeline:
    return Pipeline([_n(nodes.noising_statistics, "ptb_corpus", ["noising.bigram_stats", "noising.bigram_summary"],
                        "bigram_statistics", "data_prep")])


def create_pipeline(run: str, **kwargs) -> Pipeline:
    if run not in SCHEME_RUNS:
        raise ValueError(f"run must be one of {SCHEME_RUNS}, got {run!r}")
    train = update_wrapper(partial(nodes.train_scheme, run), nodes.train_scheme)
    v = f"noising.{run}"
    return ptb_data_prep() + _statistics() + Pipeline(
        [
            _n(train, ["ptb_corpus", "noising.bigram_stats", "params:noising.size", "params:noising.sizes",
                       "params:noising.runs", "params:noising.seed", "params:noising.device", f"{v}.checkpoints"],
               [f"{v}.weights", f"{v}.record"], f"train_{run}", "training"),
            _n(nodes.evaluate_scheme, ["ptb_corpus", f"{v}.weights", f"{v}.record",
                                       "params:noising.final_eval_batch_size", "params:noising.device"],
               f"{v}.results", f"evaluate_{run}", "evaluation"),
            _n(nodes.scheme_summary, [f"{v}.results", f"{v}.record", "params:noising.paper"],
               [f"{v}.paper_vs_run", f"{v}.paper_vs_run_md", f"{v}.metrics", f"{v}.learning_curves"],
               f"summary_{run}", "evaluation"),
        ]
    )


def create_report_pipeline(runs: tuple[str, ...] = SCHEME_RUNS, **kwargs) -> Pipeline:
    return Pipeline(
        [
            _n(nodes.report, ["params:noising.paper", *[f"noising.{r}.results" for r in runs],
                              *[f"noising.{r}.record" for r in runs]],
               ["noising.paper_vs_run", "noising.paper_vs_run_md", "noising.summary", "noising.learning_curves"],
               "report", "evaluation"),
        ]
    )
