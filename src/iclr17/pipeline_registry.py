"""The pipelines this project registers: one per paper."""

from kedro.pipeline import Pipeline

from iclr17.pipelines import prodlda

PIPELINES_BY_NAME = {
    "prodlda": prodlda.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in PIPELINES_BY_NAME.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
