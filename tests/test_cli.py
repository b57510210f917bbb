import sys

from iclr17.cli import (
    group_namespaces,
    namespace_command,
    run_side_by_side,
    threads_per_job,
)
from iclr17.pipeline_registry import VARIANT_GROUPS, register_pipelines

from .conftest import ROOT


def test_namespace_command_runs_one_variant_with_env_and_params():
    command = namespace_command("tying", "tying.re", "test", "data_root=/x,tying.size=medium")
    assert command[:3] == [sys.executable, "-m", "kedro"]
    assert command[3:] == ["run", "--pipeline=tying", "--namespaces=tying.re", "--env=test",
                           "--params=data_root=/x,tying.size=medium"]
    assert namespace_command("tying", "tying.re", None, "")[-1] == "--namespaces=tying.re"


def test_threads_per_job_shares_the_cores():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(2, cores=16) == 8
    assert threads_per_job(4, cores=2) == 1


def test_each_group_namespace_is_a_part_of_the_paper_and_together_they_are_all_of_it():
    pipelines = register_pipelines()
    for group, namespaces in VARIANT_GROUPS.items():
        paper = pipelines[group]
        parts = [paper.only_nodes_with_namespaces([ns]) for ns in namespaces]
        assert all(part.nodes for part in parts)
        assert sum(len(part.nodes) for part in parts) == len(paper.nodes)  # disjoint, and nothing left out
        prep = parts[0]
        assert all("data_prep" in n.tags for n in prep.nodes)
        assert not any("data_prep" in n.tags for part in parts[1:] for n in part.nodes)
    assert group_namespaces("tying", ("tying.al",)) == ["tying.al"]


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
    assert names == ["tying.prep", "tying.baseline", "tying.re", "tying.al", "tying.real", "tying.report"]
    assert NEEDS == {"tying.al": "tying.baseline", "tying.real": "tying.re"}
    tying = register_pipelines()["tying"]
    for child, parent in NEEDS.items():  # the child reads its parent's checkpoints, which the parent writes
        inputs = [tying.only_nodes_with_namespaces([ns]).inputs() for ns in (child, parent)]
        assert f"{parent}.checkpoints" in inputs[0] & inputs[1]
        assert names.index(parent) < names.index(child)


def test_variants_with_jobs_passes_the_dependencies_and_skips_the_report_after_a_failure(monkeypatch):
    import click.testing

    from iclr17 import cli
    from iclr17.pipeline_registry import NEEDS

    calls, sessions = [], []

    def fake_run_side_by_side(commands, jobs, threads, log_dir, cwd=None, needs=None):
        calls.append((list(commands), jobs, needs))
        return ["tying.re", "tying.real"]  # +RE fails

    monkeypatch.setattr(cli, "run_side_by_side", fake_run_side_by_side)
    monkeypatch.setattr(cli, "_session_run", lambda project, env, params, group, ns: sessions.append(ns))
    monkeypatch.chdir(ROOT)
    result = click.testing.CliRunner().invoke(cli.cli, ["variants", "tying", "--jobs", "2"])
    assert sessions == ["tying.prep"] and calls == [(VARIANT_GROUPS["tying"][1:-1], 2, NEEDS)]
    assert result.exit_code != 0 and "failed: tying.re, tying.real; tying.report not run" in result.output


def test_kedro_run_of_a_paper_with_variants_runs_its_group_and_passes_other_pipelines_on(monkeypatch):
    import click.testing

    from iclr17 import cli

    groups, plain = [], []
    monkeypatch.setattr(cli, "run_group", lambda group, env, params, raw, only=(), **k: groups.append((group, env, raw, only)))
    fake = click.Command("run", callback=lambda **kw: plain.append(kw["pipelines"]), params=cli._kedro_run.params)
    monkeypatch.setattr(cli, "_kedro_run", fake)
    monkeypatch.chdir(ROOT)
    runner = click.testing.CliRunner()
    result = runner.invoke(cli.cli, ["run", "--pipeline=tying", "--env=test", "--params=tying.seed=3"])
    assert result.exit_code == 0, result.output
    assert groups == [("tying", "test", "tying.seed=3", ())]
    result = runner.invoke(cli.cli, ["run", "--pipeline=tying", "--namespaces=tying.al,tying.real"])
    assert result.exit_code == 0, result.output
    assert groups[-1] == ("tying", None, "", ["tying.al", "tying.real"])
    result = runner.invoke(cli.cli, ["run", "--pipeline=gcn"])
    assert result.exit_code == 0, result.output
    assert plain == [["gcn"]]  # --pipeline becomes --pipelines: no deprecation warning
    result = runner.invoke(cli.cli, ["run", "--pipeline=tying", "--tags=data_prep"])  # a selection: Kedro's run
    assert result.exit_code == 0 and plain[-1] == ["tying"], result.output
    assert runner.invoke(cli.cli, ["run", "--pipelines=tying,gcn"]).exit_code != 0
