import json
import re

import mlflow
import pytest

from iclr17.hooks import run_name
from iclr17.pipeline_registry import VARIANT_GROUPS, register_pipelines


def test_the_tying_pipeline_is_tagged_by_stage_and_its_variants_are_namespaces():
    pipes = register_pipelines()
    tying = pipes["tying"]
    assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in tying.nodes)
    assert "ptb.raw_train" in tying.only_nodes_with_namespaces(["tying.prep"]).inputs()
    al = tying.only_nodes_with_namespaces(["tying.al"])
    assert {n.name for n in al.nodes} == {"tying.al.train", "tying.al.evaluate", "tying.al.summary"}
    assert {"ptb_corpus", "tying.baseline.checkpoints"} <= al.inputs()
    assert not {n.name for n in tying.nodes} & {n.name for n in pipes["__default__"].nodes}


@pytest.mark.e2e
def test_kedro_variants_tying_makes_one_mlflow_run_per_namespace(test_env):
    test_env.ensure("tying")
    data_root, tracking_uri = test_env.data_root, test_env.tracking_uri

    rows = json.loads((data_root / "08_reporting" / "tying" / "paper_vs_run.json").read_text())
    assert [r["paper"] for r in rows[:2]] == [92.6, 87.3]
    assert all(r["run"] > 1 for r in rows if r["unit"] == "ppl")
    ordering = json.loads((data_root / "08_reporting" / "tying" / "ordering.json").read_text())
    assert ordering["complete"]

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    runs = {run_name(n): test_env.mlflow_runs(run_name(n)) for n in VARIANT_GROUPS["tying"][1:]}
    assert all(len(r) == 1 for r in runs.values())
    runs = {n: r[0] for n, r in runs.items()}
    names = {"baseline": "tying_baseline", "re": "tying_re", "al": "tying_al", "real": "tying_real"}
    for variant, name in names.items():
        run = runs[name]
        assert run.info.status == "FINISHED"
        assert run.data.params["tying.size"] == "small"
        assert run.data.params["tying.sizes.small.model.hidden"] == "16"
        assert len(client.get_metric_history(run.info.run_id, "tying.valid_ppl")) == 2
        assert "tying.final_test_ppl" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"paper_vs_run.json", "paper_vs_run.md", "learning_curves.png", f"{variant}_results.json"} <= artifacts
        # run side by side (--jobs 2): the variant's own namespace, its output in its log
        assert run.data.tags["kedro_command"] == f"kedro run --pipeline=tying --namespaces=tying.{variant}"
        # the log as one line, without rich's wrapping and its source column
        log = " ".join(re.sub(r"\S+\.py:\d+", " ", (test_env.log_dir / f"tying.{variant}.log").read_text()).split())
        assert f"Completed node: tying.{variant}.train" in log and "prepare_corpus" not in log
        # +AL and +REAL (augmented loss from epoch 2) go on from their parents' epoch 1: they train epoch 2 only
        assert (f"small/{variant} epoch 1: lr" in log) is (variant in ("baseline", "re"))
        assert f"small/{variant} epoch 2: lr" in log
    # conf/test gives +AL its own tau (a mapping over the size's settings): it reaches the record and MLflow
    al = json.loads((data_root / "07_model_output" / "tying" / "al_record.json").read_text())
    assert al["tau"] == 2.0 and al["beta"] == 0.3
    assert runs["tying_al"].data.params["tying.variants.al.augmented_loss.tau"] == "2.0"
    real = json.loads((data_root / "07_model_output" / "tying" / "real_record.json").read_text())
    assert real["tau"] == 1.0  # the size's
    re_record = json.loads((data_root / "07_model_output" / "tying" / "re_record.json").read_text())
    assert real["branch"]["parent"] == "re" and real["branch"]["after_epoch"] == 1
    assert real["history"][0] == re_record["history"][0]  # epoch 1 is +RE's, timing and all
    prep = test_env.mlflow_runs("tying_prep")  # the shared prep ran once, before the variants
    assert len(prep) == 1 and prep[0].info.start_time < min(r.info.start_time for r in runs.values())
    report = {a.path for a in client.list_artifacts(runs["tying_report"].info.run_id)}
    assert {"paper_vs_run.json", "learning_curves.png", "ordering.json"} <= report


@pytest.mark.e2e
def test_plus_real_starts_from_plus_re_s_checkpoint_and_a_rerun_resumes(tracking_uri, tmp_path, mirror):
    """``tying.re`` then ``tying.real`` (each its own Kedro session and MLflow run): +REAL starts
    from +RE's kept epoch 1 (the augmented loss starts at epoch 2 in conf/test); run again, it
    resumes from its own last checkpoint and writes the same paper_vs_run numbers."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from tests.conftest import ROOT

    bootstrap_project(ROOT)
    params = {"data_root": str(tmp_path / "data"), "mlflow_tracking_uri": tracking_uri}
    out = tmp_path / "data"
    for namespace in ("tying.prep", "tying.re", "tying.real"):
        with KedroSession.create(project_path=ROOT, env="test", runtime_params=params) as s:
            s.run(pipeline_names=["tying"], namespaces=[namespace])
    models = out / "06_models" / "tying"
    assert (models / "re_checkpoints" / "train.epoch1.pt").is_file() and (models / "real_checkpoints" / "train.pt").is_file()
    record = json.loads((out / "07_model_output" / "tying" / "real_record.json").read_text())
    assert record["branch"]["parent"] == "re" and record["branch"]["after_epoch"] == 1
    first = json.loads((out / "08_reporting" / "tying" / "real" / "paper_vs_run.json").read_text())
    assert "epochs 1-1 trained once, in the +RE run" in first[0]["note"]
    with KedroSession.create(project_path=ROOT, env="test", runtime_params=params) as s:
        s.run(pipeline_names=["tying"], namespaces=["tying.real"])
    again = json.loads((out / "07_model_output" / "tying" / "real_record.json").read_text())
    assert again["resumed_after_epoch"] == 2 and again["history"] == record["history"]
    rows = json.loads((out / "08_reporting" / "tying" / "real" / "paper_vs_run.json").read_text())
    assert [r["run"] for r in rows] == [r["run"] for r in first]

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("iclr17")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "tying_real"]
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert all(len(client.get_metric_history(r.info.run_id, "tying.valid_ppl")) == 2 for r in runs)
