import json

import mlflow
import pandas as pd
import pytest

from iclr17.pipeline_registry import register_pipelines


def test_sharp_minima_pipelines_are_tagged_and_cifar_is_separate():
    pipes = register_pipelines()
    for name in ("sharp_minima", "sharp_minima_cifar"):
        assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in pipes[name].nodes)
    assert "sharp_minima.raw_cifar10" not in pipes["__default__"].inputs()
    assert "sharp_minima.raw_mnist" in pipes["__default__"].inputs()


@pytest.mark.e2e
def test_sharp_minima_runs_end_to_end_and_is_tracked(test_env):
    test_env.ensure("sharp_minima")
    data_root, uri = test_env.data_root, test_env.tracking_uri
    out = data_root / "08_reporting" / "sharp_minima"
    rows = json.loads((out / "paper_vs_run.json").read_text())
    assert rows[0]["metric"] == "F1 train accuracy SB (Table 2)" and rows[0]["paper"] == 99.66
    assert any("Table4" in r["metric"] for r in rows)
    [distance] = [r for r in rows if r["metric"].startswith("F1 distance from the start")]
    acc = pd.read_csv(out / "accuracy_table.csv")
    by_seed = acc.pivot(index="seed", columns="regime", values="distance_from_start")
    assert distance["run"] == pytest.approx((by_seed.sb / by_seed.lb).mean()) and (acc.distance_from_start > 0).all()
    sharp = pd.read_csv(out / "sharpness_table.csv")
    assert len(sharp) == 2 * 2 * 2 * 2  # regimes x seeds x spaces x epsilons
    assert (sharp.sharpness >= 0).all() and (sharp.f_max >= sharp.f0).all()
    curve = pd.read_csv(out / "parametric_table.csv")
    assert list(curve.alpha) == [-1.0, 0.0, 1.0, 2.0]

    client = mlflow.MlflowClient(tracking_uri=uri)
    [run] = test_env.mlflow_runs("sharp_minima")
    assert run.info.status == "FINISHED"
    assert run.data.params["sharp_minima.training.small_batch"] == "256"
    assert "sharp_minima.sharpness_ratio_full_eps1e-03" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "sharp_minima.sb.seed0.train_loss")) == 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"paper_vs_run.json", "paper_vs_run.md", "parametric_plot.png", "batch_sweep_plot.png",
            "sharpness_table.csv", "mnist_stats.json"} <= artifacts
