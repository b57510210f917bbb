import json

import mlflow
import pytest

from iclr17.pipeline_registry import register_pipelines


def test_gcn_pipelines_are_tagged_and_pubmed_is_separate():
    pipes = register_pipelines()
    for name in ("gcn", "gcn_pubmed"):
        assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in pipes[name].nodes)
    assert "gcn.raw_pubmed" not in pipes["__default__"].inputs()
    assert "gcn.raw_pubmed" in pipes["gcn_pubmed"].inputs()


@pytest.mark.e2e
def test_gcn_runs_end_to_end_and_is_tracked(test_env):
    test_env.ensure("gcn")
    data_root, uri = test_env.data_root, test_env.tracking_uri
    rows = json.loads((data_root / "08_reporting" / "gcn" / "paper_vs_run.json").read_text())
    metrics = {r["metric"] for r in rows}
    assert "cora Renormalization trick (Eq. 8) test accuracy" in metrics
    assert "citeseer label propagation test accuracy" in metrics
    assert all(0 <= r["run"] <= 100 for r in rows)

    client = mlflow.MlflowClient(tracking_uri=uri)
    [run] = test_env.mlflow_runs("gcn")
    assert run.info.status == "FINISHED"
    assert run.data.params["gcn.training.hidden"] == "16"
    assert "gcn.cora.renormalization.acc_mean" in run.data.metrics
    curve = client.get_metric_history(run.info.run_id, "gcn.cora.renormalization.val_loss")
    assert len(curve) >= 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"paper_vs_run.md", "paper_vs_run.json", "tsne_hidden.png", "cora_stats.json"} <= artifacts
