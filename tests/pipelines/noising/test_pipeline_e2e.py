import json

import mlflow
import pytest

from iclr17.hooks import run_name
from iclr17.pipeline_registry import VARIANT_GROUPS, register_pipelines


def test_the_noising_pipeline_is_tagged_by_stage_and_its_schemes_are_namespaces():
    noising = register_pipelines()["noising"]
    assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in noising.nodes)
    prep = noising.only_nodes_with_namespaces(["noising.prep"])
    assert "ptb.raw_train" in prep.inputs() and {"ptb_corpus", "noising.bigram_stats"} <= prep.all_outputs()
    assert {"ptb_corpus", "noising.bigram_stats"} <= noising.only_nodes_with_namespaces(["noising.blank"]).inputs()


@pytest.mark.e2e
def test_kedro_variants_noising_makes_one_mlflow_run_per_scheme(test_env):
    test_env.ensure("noising")
    data_root, tracking_uri = test_env.data_root, test_env.tracking_uri
    summary = json.loads((data_root / "08_reporting" / "noising" / "summary.json").read_text())
    assert set(summary["ranking_best_first"]) == {"none", "blank", "unigram", "bigram_kn"}
    assert "bigram_kn_gain_over_none" in summary

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    runs = {run_name(n): test_env.mlflow_runs(run_name(n)) for n in VARIANT_GROUPS["noising"]}
    assert all(len(r) == 1 for r in runs.values())
    runs = {n: r[0] for n, r in runs.items()}
    for scheme in ("none", "blank", "unigram", "bigram_kn"):
        run = runs[f"noising_{scheme}"]
        assert run.info.status == "FINISHED"
        assert run.data.params["noising.runs.bigram_kn.gamma"] == "0.2"
        assert len(client.get_metric_history(run.info.run_id, "noising.valid_ppl")) >= 1
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"paper_vs_run.json", "learning_curves.png", f"{scheme}_results.json"} <= artifacts
    prep = {a.path for a in client.list_artifacts(runs["noising_prep"].info.run_id)}
    assert {"bigram_summary.json", "corpus_stats.json"} <= prep  # the shared prep, its own run
