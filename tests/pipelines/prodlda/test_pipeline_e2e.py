import json

import mlflow
import pytest

from iclr17.common.reporting import ROW_KEYS
from iclr17.pipeline_registry import register_pipelines


def test_pipeline_nodes_are_tagged_by_stage():
    pipe = register_pipelines()["prodlda"]
    tags = {n.name: n.tags for n in pipe.nodes}
    assert all(len(t & {"data_prep", "training", "evaluation"}) == 1 for t in tags.values())
    assert {"prodlda.train_prodlda", "prodlda.train_nvlda", "prodlda.score_topics"} <= set(tags)


@pytest.mark.e2e
def test_prodlda_runs_end_to_end_and_is_tracked(test_env):
    test_env.ensure("prodlda")
    data_root, uri = test_env.data_root, test_env.tracking_uri
    rows = json.loads((data_root / "08_reporting" / "prodlda" / "paper_vs_run.json").read_text())
    assert all(tuple(r) == ROW_KEYS for r in rows)
    by_metric = {r["metric"]: r for r in rows}
    assert -1 <= by_metric["ProdLDA NPMI K=5"]["run"] <= 1
    assert by_metric["test split: token Jaccard agreement on aligned docs"]["run"] > 0.8

    client = mlflow.MlflowClient(tracking_uri=uri)
    [run] = test_env.mlflow_runs("prodlda")
    assert run.info.status == "FINISHED"
    assert run.data.params["prodlda.n_topics"] == "5"
    assert run.data.params["prodlda.models.prodlda.epochs"] == "2"
    assert "prodlda.npmi_prodlda" in run.data.metrics and "prodlda.npmi_calibration_r" in run.data.metrics
    curve = client.get_metric_history(run.info.run_id, "prodlda.prodlda.seed0.train_loss")
    assert [m.step for m in curve] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"paper_vs_run.md", "paper_vs_run.json", "results.png", "topics.md"} <= artifacts
    md = client.download_artifacts(run.info.run_id, "paper_vs_run.md", str(data_root))
    assert "| ProdLDA NPMI K=5 |" in open(md).read()
