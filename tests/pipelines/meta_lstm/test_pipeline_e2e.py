import json

import mlflow
import pytest

from iclr17.pipeline_registry import register_pipelines


def test_meta_lstm_is_tagged_and_miniimagenet_is_separate():
    pipes = register_pipelines()
    for name in ("meta_lstm", "meta_lstm_miniimagenet"):
        assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in pipes[name].nodes)
    assert "meta_lstm.miniimagenet_images" in pipes["meta_lstm_miniimagenet"].inputs()
    assert "meta_lstm.miniimagenet_images" not in pipes["__default__"].inputs()


@pytest.mark.e2e
def test_meta_lstm_runs_end_to_end_and_is_tracked(test_env):
    test_env.ensure("meta_lstm")
    out = test_env.data_root / "08_reporting" / "meta_lstm" / "omniglot"
    rows = json.loads((out / "paper_vs_run.json").read_text())
    models = ("Baseline-finetune", "Baseline-nearest-neighbor", "Matching Network", "Matching Network FCE",
              "Meta-Learner LSTM")
    for k in (1, 5):
        for m in models:
            [r] = [r for r in rows if r["metric"] == f"Omniglot 28x28, Vinyals split 5-way {k}-shot {m} test accuracy"]
            assert r["paper"] is None and 0 <= r["run"] <= 100  # mini-ImageNet's number is not compared
            assert "6 test episodes" in r["note"] and "mini-ImageNet, not comparable" in r["note"]
        [r] = [r for r in rows if r["metric"].endswith(f"{k}-shot Meta-Learner LSTM, query batch statistics test accuracy")]
        assert r["paper"] is None and "not the paper's protocol" in r["note"]
    assert [r["paper"] for r in rows if "literature" in r["metric"]] == [98.1, 98.9]
    stats = json.loads((out / "data_stats.json").read_text())
    assert stats["train"] == {"classes": 80, "characters": 20, "images_per_class": 20}

    client = mlflow.MlflowClient(tracking_uri=test_env.tracking_uri)
    [run] = test_env.mlflow_runs("meta_lstm")
    assert run.info.status == "FINISHED"
    assert run.data.params["meta_lstm.training.1shot.inner_epochs"] == "2"
    for k in (1, 5):
        assert f"meta_lstm.meta_learner_lstm.{k}shot.test_acc" in run.data.metrics
        assert f"meta_lstm.meta_learner_lstm_query_batch_statistics.{k}shot.test_acc" in run.data.metrics
        assert 0 < run.data.metrics[f"meta_lstm.meta_learner_lstm.{k}shot.learner_share"] < 1
        curve = client.get_metric_history(run.info.run_id, f"meta_lstm.meta_learner_lstm.{k}shot.val_acc")
        assert [m.step for m in curve] == ([3, 6] if k == 1 else [3])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"paper_vs_run.json", "paper_vs_run.md", "learning_curves.png", "evaluation.json", "data_stats.json"} <= artifacts
