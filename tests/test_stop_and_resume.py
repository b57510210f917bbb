"""A real ``kedro run`` stopped by a signal mid-training, then run again: it marks its MLflow run
KILLED, exits non-zero within seconds, and the rerun resumes to the uninterrupted run's result."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import mlflow
import pytest
import torch

from tests.conftest import ROOT

EPOCHS = 12


def _command(data_root, tracking_uri) -> list[str]:
    params = (f"data_root={data_root},mlflow_tracking_uri={tracking_uri},"
              f"tying.sizes.small.training.epochs={EPOCHS},tying.sizes.small.augmented_loss.start_epoch=50")
    return [sys.executable, "-m", "kedro", "run", "--pipelines=tying",
            "--namespaces=tying.prep,tying.baseline", "--env=test", f"--params={params}"]


def _run(data_root, tracking_uri, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(_command(data_root, tracking_uri), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _timeless(history):
    return [{k: v for k, v in h.items() if k not in ("tokens_per_s", "epoch_seconds")} for h in history]


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_is_killed_cleanly_and_resumes_to_the_uninterrupted_result(sig, tracking_uri, tmp_path, mirror):
    straight = _run(tmp_path / "straight", tracking_uri)
    assert straight.returncode == 0, straight.stderr[-3000:]

    data = tmp_path / "stopped"
    checkpoint = data / "06_models" / "tying" / "baseline_checkpoints" / "train.pt"
    # its own process group, SIGINT not ignored (as a terminal's Ctrl-C would reach it)
    proc = subprocess.Popen(_command(data, tracking_uri), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be stopped: raise EPOCHS"
    os.killpg(proc.pid, sig)
    stopped_at = time.monotonic()
    output = _output_within(proc, 60)
    assert time.monotonic() - stopped_at < 20
    assert proc.returncode != 0, output[-3000:]
    saved = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 1 <= saved < EPOCHS
    assert not (data / "06_models" / "tying" / "baseline_weights.pkl").exists()  # no partial result saved

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("iclr17")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"],
                              filter_string="attributes.run_name = 'tying_baseline'")
    assert len(runs) == 2
    assert runs[1].info.status in ("KILLED", "FAILED") and runs[1].data.params["tying.seed"] == "0"

    resumed = _run(data, tracking_uri)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((data / "07_model_output" / "tying" / "baseline_record.json").read_text())
    reference = json.loads((tmp_path / "straight" / "07_model_output" / "tying" / "baseline_record.json").read_text())
    assert record["resumed_after_epoch"] >= saved and len(record["history"]) == EPOCHS
    assert _timeless(record["history"]) == _timeless(reference["history"])
    with open(data / "06_models" / "tying" / "baseline_weights.pkl", "rb") as f:
        weights = pickle.load(f)
    with open(tmp_path / "straight" / "06_models" / "tying" / "baseline_weights.pkl", "rb") as f:
        expected = pickle.load(f)
    assert all(torch.equal(weights[k], expected[k]) for k in expected)


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc)."""
    out = set()
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(stat))
    return out


def _output_within(proc: subprocess.Popen, seconds: float) -> str:
    """The stopped process's output once it exits; if it hangs, its group is killed and the test
    fails with what it printed."""
    try:
        return proc.communicate(timeout=seconds)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
        pytest.fail(f"still running {seconds:.0f} s after SIGTERM; its output:\n{output[-3000:]}")


def _sharp_minima_command(data_root, tracking_uri) -> list[str]:
    params = (f"data_root={data_root},mlflow_tracking_uri={tracking_uri},sharp_minima.training.max_epochs=6,"
              "sharp_minima.training.patience=6,sharp_minima.training.workers=2")
    return [sys.executable, "-m", "kedro", "run", "--pipeline=sharp_minima", "--env=test", f"--params={params}"]


@pytest.mark.e2e
def test_sigterm_to_a_run_with_worker_processes_stops_them_and_the_rerun_resumes(tracking_uri, tmp_path, mirror):
    """sharp_minima's random starts train in two spawned workers: SIGTERM to the parent alone
    stops the workers too, and the rerun goes on from each start's last epoch to the uninterrupted
    run's weights and history."""
    straight = subprocess.run(_sharp_minima_command(tmp_path / "straight", tracking_uri), cwd=ROOT,
                              capture_output=True, text=True, timeout=600, check=False)
    assert straight.returncode == 0, straight.stderr[-3000:]

    data = tmp_path / "stopped"
    checkpoint = data / "06_models" / "sharp_minima" / "checkpoints" / "sb_seed0.pt"
    proc = subprocess.Popen(_sharp_minima_command(data, tracking_uri), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert proc.poll() is None and workers, "the run finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)  # the parent only: it must stop its workers itself
    stopped_at = time.monotonic()
    output = _output_within(proc, 60)
    assert time.monotonic() - stopped_at < 20 and proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    time.sleep(1.0)
    assert not any(os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
                   for w in workers), "a worker outlived its parent"
    assert not (data / "06_models" / "sharp_minima" / "runs.pkl").exists()
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("iclr17").experiment_id],
                              order_by=["attributes.start_time ASC"])
    assert [r.info.status for r in runs] == ["FINISHED", "KILLED"]

    resumed = subprocess.run(_sharp_minima_command(data, tracking_uri), cwd=ROOT, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(data / "06_models" / "sharp_minima" / "runs.pkl", "rb") as f:
        got = pickle.load(f)
    with open(tmp_path / "straight" / "06_models" / "sharp_minima" / "runs.pkl", "rb") as f:
        expected = pickle.load(f)
    assert any(r["resumed_after_epoch"] > 0 for r in got["sb"] + got["lb"])
    for regime in ("sb", "lb"):
        for a, b in zip(got[regime], expected[regime], strict=True):
            assert [{k: v for k, v in h.items() if k != "seconds"} for h in a["history"]] == \
                   [{k: v for k, v in h.items() if k != "seconds"} for h in b["history"]]
            assert all(torch.equal(a["state"][k], v) for k, v in b["state"].items())


def test_a_stop_that_blocks_leaves_after_its_grace_period():
    """If the orderly stop hangs (a pool's shutdown waiting on killed workers), the process still
    exits with the stop's code once the grace period is over."""
    code = "import time; from iclr17 import hooks; hooks._leave_after(0.5, 143); time.sleep(60)"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 143 and time.monotonic() - start < 20
    assert "leaving without it" in proc.stderr
