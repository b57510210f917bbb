"""The pipelines this project registers: one per paper."""

from kedro.pipeline import Pipeline

from iclr17.pipelines import gcn, prodlda

PIPELINES_BY_NAME = {
    "prodlda": prodlda.create_pipeline,
    "gcn": gcn.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in PIPELINES_BY_NAME.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # Pubmed needs ind.pubmed.allx, which the mirror lacks: a pipeline of its own, not in __default__
    pipelines["gcn_pubmed"] = gcn.create_pipeline(datasets=("pubmed",))
    return pipelines
