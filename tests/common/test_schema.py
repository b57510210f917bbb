import glob

import pytest
import yaml
from omegaconf import OmegaConf

from iclr17.common.config import ParameterError
from iclr17.common.schema import validate_parameters
from iclr17.pipeline_registry import PARAMETER_SCHEMAS
from tests.conftest import ROOT


def _env(env: str) -> dict:
    out = {}
    for path in sorted(glob.glob(str(ROOT / "conf" / env / "parameters*.yml"))):
        out.update(yaml.safe_load(open(path)) or {})
    return out


@pytest.mark.parametrize("env", ["base", "test", "long", "miniimagenet", "vlae_long", "vlae_paper", "qprop_gpu"])
def test_every_configuration_fits_the_schemas(env):
    params = OmegaConf.to_container(OmegaConf.merge(_env("base"), _env(env)))
    validate_parameters(params, PARAMETER_SCHEMAS, PARAMETER_SCHEMAS)
    assert set(_env("base")) == set(PARAMETER_SCHEMAS)  # every block has its schema


def test_each_problem_is_named_by_its_full_key_with_what_was_expected_and_given():
    params = OmegaConf.to_container(OmegaConf.merge(_env("base"), {
        "gcn": {"training": {"lr": "abc", "lrr": 1, "workers": "x"}},
        "tying": {"variants": {"al": {"augmented_loss": {"start_epoch": 3}}}},
        "gcnn": {},
    }))
    del params["prodlda"]["npmi"]
    with pytest.raises(ParameterError) as err:
        validate_parameters(params, PARAMETER_SCHEMAS, ["gcn", "tying", "prodlda"])
    lines = str(err.value).splitlines()[1:]
    assert "  - gcn.training.lr: expected a valid number, unable to parse string as a number; given 'abc'" in lines
    assert any(line.startswith("  - gcn.training.workers: expected a valid integer") and "'auto'; given 'x'" in line
               for line in lines)
    assert any(line.startswith("  - gcn.training.lrr: unknown key (known here: adam, device,") for line in lines)
    assert any(line.startswith("  - tying.variants.al.augmented_loss.start_epoch: unknown key") for line in lines)
    assert "  - prodlda.npmi: missing" in lines
    assert any(line.startswith("  - gcnn: no such parameter block") for line in lines)
    assert len(lines) == 6


def test_only_the_blocks_a_pipeline_reads_are_checked():
    params = {**_env("base"), "data_root": "/x"}
    params["tying"] = {**params["tying"], "seed": "zero"}
    validate_parameters(params, PARAMETER_SCHEMAS, ["gcn"])
    with pytest.raises(ParameterError, match="tying.seed: expected a valid integer"):
        validate_parameters(params, PARAMETER_SCHEMAS, ["tying"])


def test_a_bad_parameter_stops_the_run_before_any_node_and_before_mlflow(tracking_uri, tmp_path, mirror):
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    params = {"data_root": str(tmp_path / "data"), "mlflow_tracking_uri": tracking_uri, "gcn": {"training": {"lr": "abc"}}}
    with KedroSession.create(project_path=ROOT, env="test", runtime_params=params) as session:
        with pytest.raises(ParameterError, match=r"gcn\.training\.lr: expected a valid number.*given 'abc'"):
            session.run(pipeline_names=["gcn"])
    assert not (tmp_path / "data").exists()  # not even the data prep ran
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    assert client.search_runs([client.get_experiment_by_name("iclr17").experiment_id]) == []
