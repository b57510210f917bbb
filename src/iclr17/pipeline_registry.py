"""The pipelines this project registers: one per paper, the papers' variants whose data the mirror
lacks (``gcn_pubmed``, ``sharp_minima_cifar``, ``meta_lstm_miniimagenet``), ``__default__`` and the
report."""

from kedro.pipeline import Pipeline

from iclr17.common.lm.schema import PTB
from iclr17.pipelines import (
    gcn,
    meta_lstm,
    noising,
    prodlda,
    qprop,
    report,
    sharp_minima,
    tying,
    vlae,
)
from iclr17.pipelines.gcn.schema import GCN
from iclr17.pipelines.meta_lstm.schema import MetaLSTM
from iclr17.pipelines.noising.schema import Noising
from iclr17.pipelines.prodlda.schema import ProdLDA
from iclr17.pipelines.qprop.schema import QProp
from iclr17.pipelines.report.schema import Report
from iclr17.pipelines.sharp_minima.schema import SharpMinima
from iclr17.pipelines.tying.schema import Tying
from iclr17.pipelines.vlae.schema import VLAE

PIPELINES_BY_NAME = {
    "prodlda": prodlda.create_pipeline,
    "gcn": gcn.create_pipeline,
    "sharp_minima": sharp_minima.create_pipeline,
    "meta_lstm": meta_lstm.create_pipeline,
}

# The schema of each top-level parameter block: a run checks the blocks its pipeline reads before
# any node runs (iclr17.hooks.ValidateParameters)
PARAMETER_SCHEMAS = {"prodlda": ProdLDA, "gcn": GCN, "sharp_minima": SharpMinima, "tying": Tying,
                     "noising": Noising, "ptb": PTB, "report": Report, "meta_lstm": MetaLSTM,
                     "vlae": VLAE, "qprop": QProp}

# Papers whose table has variants, each variant a namespace of the paper's pipeline:
# ``kedro run --pipeline=<paper>`` runs these namespaces in this order, each its own Kedro session
# and MLflow run (named ``<paper>_<variant>``, see iclr17.hooks), so the variants line up in the
# MLflow UI; the first is the shared data prep, the last the report that reads the others' results.
VARIANT_GROUPS = {
    # +AL and +REAL start from the baseline's and +RE's checkpoints, so they come after them
    "tying": ["tying.prep", *(f"tying.{p}" for p in dict.fromkeys(tying.PARENTS.values())),
              *(f"tying.{v}" for v in tying.PARENTS), "tying.report"],
    "noising": ["noising.prep", *(f"noising.{r}" for r in noising.SCHEME_RUNS), "noising.report"],
    # one per dataset: Table 1 (static MNIST, the default), Table 2 (dynamic), Table 4 (Caltech),
    # and the receptive-field sweep on static MNIST
    **{g: [f"{g}.prep", *(f"{g}.{v}" for v in variants), f"{g}.report"] for g, (_, _, variants) in vlae.GROUPS.items()},
    # one per task: Reacher with TRPO and conservative Q-Prop (the default), every algorithm per task
    **{g: [f"{g}.prep", *(f"{g}.{a}" for a in algorithms), f"{g}.report"] for g, (_, algorithms) in qprop.GROUPS.items()},
}

# A variant that reads another's output: ``kedro variants --jobs N`` starts it only after that one
# has finished (and not at all if it failed).
NEEDS = {f"tying.{v}": f"tying.{p}" for v, p in tying.PARENTS.items()}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in PIPELINES_BY_NAME.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # Pubmed needs ind.pubmed.allx, which the mirror lacks: a pipeline of its own, not in __default__
    pipelines["gcn_pubmed"] = gcn.create_pipeline(datasets=("pubmed",))
    # C1 needs CIFAR-10, which the mirror lacks: like gcn_pubmed, not in __default__
    pipelines["sharp_minima_cifar"] = sharp_minima.create_cifar_pipeline()
    # mini-ImageNet's images cannot be had here: for users who supply them, not in __default__
    pipelines["meta_lstm_miniimagenet"] = meta_lstm.create_pipeline(dataset="miniimagenet")
    # one MLflow run per variant (their metrics share names), so not summed into __default__
    pipelines["tying"] = tying.create_pipeline()
    pipelines["noising"] = noising.create_pipeline()
    for group in vlae.GROUPS:
        pipelines[group] = vlae.create_pipeline(group)
    for group in qprop.GROUPS:
        pipelines[group] = qprop.create_pipeline(group)
    # reads the other pipelines' MLflow runs, so it runs after them, on its own
    pipelines["report"] = report.create_pipeline()
    return pipelines
