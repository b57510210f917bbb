import json

import pytest

from iclr17.hooks import run_name
from iclr17.pipeline_registry import VARIANT_GROUPS, register_pipelines
from iclr17.pipelines.vlae import GROUPS, VARIANTS


def test_each_dataset_is_a_group_of_namespaces_tagged_by_stage():
    pipelines = register_pipelines()
    for group, (dataset, raw, variants) in GROUPS.items():
        p = pipelines[group]
        assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in p.nodes)
        assert VARIANT_GROUPS[group] == [f"{group}.prep", *(f"{group}.{v}" for v in variants), f"{group}.report"]
        assert set(p.only_nodes_with_namespaces([f"{group}.prep"]).inputs()) == set(raw)
        assert f"vlae.{dataset}.data" in p.only_nodes_with_namespaces([f"{group}.{variants[0]}"]).inputs()
    assert "vlae.static_mnist.ablation.paper_vs_run" in pipelines["vlae"].outputs()
    # the sweep sets vlae's AF-prior model between its two decoders
    sweep = pipelines["vlae_receptive_field"]
    assert "vlae.static_mnist.af.evaluation" in sweep.inputs() and "vlae.static_mnist.receptive_field.summary" in sweep.outputs()
    assert not set(GROUPS) & {n for n in pipelines["__default__"].outputs() if n.startswith("vlae")}


@pytest.mark.e2e
def test_the_vlae_group_logs_one_mlflow_run_per_model_and_the_ablation_table(test_env):
    test_env.ensure("vlae")
    client = test_env.client()
    runs = {n: test_env.mlflow_runs(run_name(n)) for n in VARIANT_GROUPS["vlae"]}
    assert all(len(r) == 1 and r[0].info.status == "FINISHED" for r in runs.values())
    for variant in VARIANTS:
        run = runs[f"vlae.{variant}"][0]
        assert run.data.params["vlae.training.free_bits"] == "0.01"
        history = client.get_metric_history(run.info.run_id, "vlae.val_neg_elbo")
        assert len(history) == 1 and history[0].value > 0  # one epoch in the test env
        nll, elbo = run.data.metrics["vlae.test_is_nll"], run.data.metrics["vlae.test_neg_elbo"]
        assert 0 < nll <= elbo + 1e-3 if variant == "pixelcnn" else 0 < nll < elbo + 5  # IS tightens the bound
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"paper_vs_run.json", "paper_vs_run.md", "lossy_grid.png", "evaluation.json", "learning_curves.png"} <= artifacts
    assert runs["vlae.pixelcnn"][0].data.metrics["vlae.test_kl"] == 0.0
    table = test_env.data_root / "08_reporting" / "vlae" / "static_mnist" / "ablation"
    rows = {r["metric"]: r for r in json.loads((table / "paper_vs_run.json").read_text())}
    assert rows["static MNIST VLAE (PixelCNN decoder + AF prior) test NLL"]["paper"] == 79.03
    assert any(m.startswith("static MNIST ordering") for m in rows)
    summary = json.loads((table / "summary.json").read_text())
    assert set(summary["ranking_best_first"]) == set(VARIANTS)
    prep = {a.path for a in client.list_artifacts(runs["vlae.prep"][0].info.run_id)}
    assert "data_stats.json" in prep
