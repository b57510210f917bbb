import sys

import yaml

from iclr17.cli import VARIANT_TAGS, run_side_by_side, threads_per_job, variant_command
from iclr17.pipeline_registry import VARIANT_GROUPS, prep_pipeline_name, register_pipelines

from .conftest import ROOT


def test_variant_command_skips_the_shared_prep_and_passes_env_and_params():
    command = variant_command("tying_re", "test", "data_root=/x,tying.size=medium")
    assert command[:3] == [sys.executable, "-m", "kedro"]
    assert command[3:] == ["run", "--pipeline=tying_re", f"--tags={VARIANT_TAGS}", "--env=test",
                           "--params=data_root=/x,tying.size=medium"]
    assert variant_command("tying_re", None, "")[-1] == f"--tags={VARIANT_TAGS}"


def test_threads_per_job_shares_the_cores():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(2, cores=16) == 8
    assert threads_per_job(4, cores=2) == 1


def test_each_group_prep_holds_every_data_prep_node_of_its_variants_and_is_not_tracked():
    pipelines = register_pipelines()
    disabled = yaml.safe_load((ROOT / "conf/base/mlflow.yml").read_text())["tracking"]["disable_tracking"]["pipelines"]
    for group, names in VARIANT_GROUPS.items():
        prep = pipelines[prep_pipeline_name(group)]
        assert prep.nodes and all("data_prep" in n.tags for n in prep.nodes)
        for name in names[:-1]:
            assert set(pipelines[name].only_nodes_with_tags("data_prep").nodes) == set(prep.nodes)
            # what a variant runs side by side: everything but that prep
            rest = pipelines[name].only_nodes_with_tags(*VARIANT_TAGS.split(","))
            assert set(rest.nodes) | set(prep.nodes) == set(pipelines[name].nodes)
        assert prep_pipeline_name(group) in disabled


def test_run_side_by_side_runs_all_at_most_jobs_at_a_time_and_reports_failures(tmp_path):
    # each job records the number of jobs running beside it (marker files), then fails if told
    script = ("import sys, time, pathlib; d = pathlib.Path(sys.argv[1]); m = d / sys.argv[2]; m.touch();"
              "time.sleep(1.5); print('running', len(list(d.glob('*.on')))); m.unlink(); sys.exit(int(sys.argv[3]))")
    marks = tmp_path / "marks"
    marks.mkdir()
    commands = {f"job{i}": [sys.executable, "-c", script, str(marks), f"job{i}.on", "3" if i == 2 else "0"]
                for i in range(4)}
    failed = run_side_by_side(commands, jobs=2, threads=1, log_dir=tmp_path / "logs")
    assert failed == ["job2"]
    seen = [int((tmp_path / "logs" / f"job{i}.log").read_text().split()[-1]) for i in range(4)]
    assert max(seen) == 2 and min(seen) >= 1


def test_run_side_by_side_starts_a_command_after_the_one_it_needs_and_not_after_a_failure(tmp_path):
    # each job appends its name to a shared file when it starts and, after a pause, when it ends
    trace = tmp_path / "trace"
    script = ("import sys, time; f = open(sys.argv[1], 'a'); f.write(sys.argv[2] + ' start\\n'); f.flush();"
              "time.sleep(1.2); f.write(sys.argv[2] + ' end\\n'); f.close(); sys.exit(int(sys.argv[3]))")
    commands = {name: [sys.executable, "-c", script, str(trace), name, code]
                for name, code in [("a", "0"), ("b", "4"), ("a2", "0"), ("b2", "0"), ("c", "0")]}
    failed = run_side_by_side(commands, jobs=2, threads=1, log_dir=tmp_path / "logs",
                              needs={"a2": "a", "b2": "b", "x": "y"})
    assert failed == ["b", "b2"]  # b2 needs the failed b: not run, and reported
    lines = trace.read_text().split("\n")
    assert "b2 start" not in lines
    assert lines.index("a2 start") > lines.index("a end")
    assert sorted(lines[:2]) == ["a start", "b start"] and "c end" in lines  # c needs nothing


def test_the_tying_group_runs_the_augmented_loss_variants_after_the_runs_they_branch_from():
    from iclr17.pipeline_registry import NEEDS

    names = VARIANT_GROUPS["tying"]
    assert names == ["tying_baseline", "tying_re", "tying_al", "tying_real", "tying_report"]
    assert NEEDS == {"tying_al": "tying_baseline", "tying_real": "tying_re"}
    pipelines = register_pipelines()
    for child, parent in NEEDS.items():  # the child reads its parent's checkpoints, which the parent writes
        assert f"tying.{parent[6:]}.checkpoints" in pipelines[child].inputs() & pipelines[parent].inputs()
        assert names.index(parent) < names.index(child)


def test_variants_with_jobs_passes_the_dependencies_and_skips_the_report_after_a_failure(monkeypatch):
    import click.testing

    from iclr17 import cli
    from iclr17.pipeline_registry import NEEDS

    calls = []

    def fake_run_side_by_side(commands, jobs, threads, log_dir, cwd=None, needs=None):
        calls.append((list(commands), jobs, needs))
        return [] if len(calls) == 1 else ["tying_re", "tying_real"]  # the prep succeeds, +RE fails

    monkeypatch.setattr(cli, "run_side_by_side", fake_run_side_by_side)
    monkeypatch.chdir(ROOT)
    result = click.testing.CliRunner().invoke(cli.cli, ["variants", "tying", "--jobs", "2"])
    assert calls == [(["tying_prep"], 1, None), (VARIANT_GROUPS["tying"][:-1], 2, NEEDS)]
    assert result.exit_code != 0 and "failed: tying_re, tying_real; tying_report not run" in result.output


def test_kedro_run_of_a_paper_with_variants_runs_its_group_and_passes_other_pipelines_on(monkeypatch):
    import click.testing

    from iclr17 import cli

    groups, plain = [], []
    monkeypatch.setattr(cli, "run_group", lambda group, env, params, raw, *a, **k: groups.append((group, env, raw)))
    fake = click.Command("run", callback=lambda **kw: plain.append(kw["pipelines"]), params=cli._kedro_run.params)
    monkeypatch.setattr(cli, "_kedro_run", fake)
    monkeypatch.chdir(ROOT)
    runner = click.testing.CliRunner()
    result = runner.invoke(cli.cli, ["run", "--pipeline=tying", "--env=test", "--params=tying.seed=3"])
    assert result.exit_code == 0, result.output
    assert groups == [("tying", "test", "tying.seed=3")]
    result = runner.invoke(cli.cli, ["run", "--pipeline=gcn"])
    assert result.exit_code == 0, result.output
    assert plain == [["gcn"]]  # --pipeline becomes --pipelines: no deprecation warning
    assert runner.invoke(cli.cli, ["run", "--pipelines=tying,gcn"]).exit_code != 0
