import json

import pytest

from iclr17.hooks import run_name
from iclr17.pipeline_registry import VARIANT_GROUPS, register_pipelines
from iclr17.pipelines.qprop import ALGORITHMS, GROUPS


def test_each_task_is_a_group_of_namespaces_tagged_by_stage():
    pipelines = register_pipelines()
    for group, (task, algorithms) in GROUPS.items():
        p = pipelines[group]
        assert all(len(n.tags & {"data_prep", "training", "evaluation"}) == 1 for n in p.nodes)
        assert VARIANT_GROUPS[group] == [f"{group}.prep", *(f"{group}.{a}" for a in algorithms), f"{group}.report"]
        assert f"qprop.{task}.spec" in p.only_nodes_with_namespaces([f"{group}.{algorithms[0]}"]).inputs()
        assert f"qprop.{task}.{group}_report.paper_vs_run" in p.outputs()
    assert GROUPS["qprop"] == ("reacher", ("trpo", "qprop_c")) and GROUPS["qprop_swimmer"][1] == ALGORITHMS
    assert not {n for n in pipelines["__default__"].outputs() if n.startswith("qprop")}


@pytest.mark.e2e
def test_every_algorithm_on_inverted_pendulum_logs_its_seeds_curves_and_table(test_env):
    group = "qprop_inverted_pendulum"
    test_env.ensure(group)
    client = test_env.client()
    runs = {n: test_env.mlflow_runs(run_name(n)) for n in VARIANT_GROUPS[group]}
    assert all(len(r) == 1 and r[0].info.status == "FINISHED" for r in runs.values())
    for algorithm in ALGORITHMS:
        run = runs[f"{group}.{algorithm}"][0]
        assert run.data.params["qprop.trpo.batch_size"] == "1000"
        for seed in (0, 1):  # two seeds, two batches of 1,000 steps each
            history = client.get_metric_history(run.info.run_id, f"qprop.seed{seed}.average_return")
            assert [m.step for m in history] == [1000, 2000] and all(m.value > 0 for m in history)
        assert run.data.metrics["qprop.steps_per_s"] > 0 and run.data.metrics["qprop.seeds_reaching"] == 0
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"paper_vs_run.json", "paper_vs_run.md", "evaluation.json", "learning_curves.png"} <= artifacts
    qprop_c = runs[f"{group}.qprop_c"][0].info.run_id
    assert client.get_metric_history(qprop_c, "qprop.seed0.pg_variance_ratio")
    assert client.get_metric_history(qprop_c, "qprop.seed0.critic_loss")
    out = test_env.data_root / "08_reporting" / "qprop" / "inverted_pendulum" / f"{group}_report"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["algorithms"]) == set(ALGORITHMS) and summary["qprop_c_fewer_episodes_than_trpo"] is False
    rows = json.loads((out / "paper_vs_run.json").read_text())
    assert any(r["metric"].endswith("TR-c-Q-Prop / TRPO") for r in rows)
    prep = {a.path for a in client.list_artifacts(runs[f"{group}.prep"][0].info.run_id)}
    assert "spec.json" in prep


@pytest.mark.e2e
def test_the_default_reacher_run_sets_table_1_beside_it(test_env):
    test_env.ensure("qprop")
    out = test_env.data_root / "08_reporting" / "qprop" / "reacher" / "qprop_report"
    rows = {r["metric"]: r for r in json.loads((out / "paper_vs_run.json").read_text())}
    assert rows["Reacher-v5 TR-c-Q-Prop episodes to threshold -7"]["paper"] == 2060
    assert rows["Reacher-v5 TRPO max average return"]["paper"] == -6.7
    assert rows["Reacher-v5 TRPO max average return"]["run"] < 0  # Reacher's returns are negative
