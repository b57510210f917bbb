"""The pipelines this project registers: one per paper (``tying`` is one per Table 1 variant)."""

from functools import reduce
from operator import and_

from kedro.pipeline import Pipeline

from iclr17.pipelines import gcn, noising, prodlda, report, sharp_minima, tying

PIPELINES_BY_NAME = {
    "prodlda": prodlda.create_pipeline,
    "gcn": gcn.create_pipeline,
    "sharp_minima": sharp_minima.create_pipeline,
}

# Groups of pipelines run by ``kedro variants <group>`` (see iclr17/cli.py), each its own Kedro
# session and MLflow run; the last (the report) reads the others' results.  ``tying``'s +AL and +REAL
# start from the baseline's and +RE's checkpoint at the epoch before the augmented loss starts
# (the epochs they share are trained once), so they run after them.
VARIANT_GROUPS = {
    "tying": [*(f"tying_{p}" for p in tying.PARENTS.values()), *(f"tying_{v}" for v in tying.PARENTS),
              "tying_report"],
    "noising": [*(f"noising_{r}" for r in noising.SCHEME_RUNS), "noising_report"],
}

# A pipeline of a group that reads another's output: ``kedro variants`` starts it only after that
# one has finished (and not at all if it failed).
NEEDS = {f"tying_{v}": f"tying_{p}" for v, p in tying.PARENTS.items()}


def prep_pipeline_name(group: str) -> str:
    return f"{group}_prep"


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in PIPELINES_BY_NAME.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # Pubmed needs ind.pubmed.allx, which the mirror lacks: a pipeline of its own, not in __default__
    pipelines["gcn_pubmed"] = gcn.create_pipeline(datasets=("pubmed",))
    # C1 needs CIFAR-10, which the mirror lacks: like gcn_pubmed, not in __default__
    pipelines["sharp_minima_cifar"] = sharp_minima.create_cifar_pipeline()
    # one run per variant (their metrics share names, so they are not summed into __default__)
    for variant in tying.VARIANTS:
        pipelines[f"tying_{variant}"] = tying.create_pipeline(variant)
    pipelines["tying_report"] = tying.create_report_pipeline()
    for run in noising.SCHEME_RUNS:
        pipelines[f"noising_{run}"] = noising.create_pipeline(run)
    pipelines["noising_report"] = noising.create_report_pipeline()
    # ``<group>_prep``: the data-prep nodes every variant of a group shares, run once before
    # ``kedro variants <group> --jobs N`` starts the variants side by side (not tracked in MLflow:
    # see conf/base/mlflow.yml)
    for group, names in VARIANT_GROUPS.items():
        shared = [pipelines[n].only_nodes_with_tags("data_prep") for n in names[:-1]]
        pipelines[prep_pipeline_name(group)] = reduce(and_, shared)
    # reads the other pipelines' MLflow runs, so it runs after them, on its own
    pipelines["report"] = report.create_pipeline()
    return pipelines
