"""Catalog datasets of the report: the latest MLflow runs (read through the MLflow client) and
plain binary files (the figures next to the markdown report)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

PAPER_VS_RUN = "paper_vs_run.json"


class MlflowRunsDataset(AbstractDataset[None, dict]):
    """Load-only: for every run name in an MLflow experiment, its latest FINISHED run that logged a
    ``paper_vs_run.json`` artifact, with tags, params, final metrics, that table and its PNG plots.

    ``tracking_uri: null`` reads the tracking server kedro-mlflow was configured with (``mlflow.yml``),
    so the report reads the same database the pipelines wrote.  Runs named in ``exclude`` (the report's
    own) are skipped.  Loads ``{run_name: run}`` where ``run`` is a plain dict (see ``_summarise_run``)."""

    def __init__(
        self,
        experiment: str,
        tracking_uri: str | None = None,
        exclude: list[str] | None = None,
        max_runs: int = 5000,
        metadata: dict | None = None,
    ):
        self._experiment = experiment
        self._tracking_uri = tracking_uri
        self._exclude = set(exclude or [])
        self._max_runs = max_runs
        self.metadata = metadata

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self._tracking_uri or mlflow.get_tracking_uri())

    def load(self) -> dict[str, dict]:
        client = self._client()
        experiment = client.get_experiment_by_name(self._experiment)
        if experiment is None:
            raise DatasetError(
                f"MLflow experiment {self._experiment!r} not found at {client.tracking_uri}: run a pipeline "
                "first (e.g. `kedro run --pipeline=gcn`) or point mlflow.yml at the server that has the runs"
            )
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=self._max_runs,
        )
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.info.run_name] = counts.get(run.info.run_name, 0) + 1
        out: dict[str, dict] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for run in runs:  # newest first
                name = run.info.run_name
                if name in out or name in self._exclude:
                    continue
                artifacts = {a.path for a in client.list_artifacts(run.info.run_id) if not a.is_dir}
                if PAPER_VS_RUN not in artifacts:
                    continue
                out[name] = self._summarise_run(client, run, artifacts, Path(tmp), counts[name], experiment.name)
        return out

    @staticmethod
    def _summarise_run(client, run, artifacts: set[str], tmp: Path, n_runs: int, experiment_name: str) -> dict:
        def fetch(path: str) -> bytes:
            local = client.download_artifacts(run.info.run_id, path, str(tmp))
            return Path(local).read_bytes()

        return {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "experiment_id": run.info.experiment_id,
            "experiment_name": experiment_name,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
            "finished_runs_with_this_name": n_runs,
            "tags": dict(run.data.tags),
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "paper_vs_run": json.loads(fetch(PAPER_VS_RUN)),
            "plots": {p: fetch(p) for p in sorted(artifacts) if p.lower().endswith(".png")},
        }

    def save(self, data: None) -> None:
        raise DatasetError("MlflowRunsDataset is read-only: runs are written by the pipelines' MLflow runs")

    def _describe(self) -> dict[str, Any]:
        return {"experiment": self._experiment, "tracking_uri": self._tracking_uri, "exclude": sorted(self._exclude)}


class BinaryFileDataset(AbstractDataset[bytes, bytes]):
    """A file's bytes, as they are (for PNGs inside a ``partitions.PartitionedDataset``)."""

    def __init__(self, filepath: str, metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> bytes:
        return Path(self._filepath).read_bytes()

    def save(self, data: bytes) -> None:
        path = Path(self._filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
