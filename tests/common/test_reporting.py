import pytest

from iclr17.common.config import ParameterError, check_keys
from iclr17.common.reporting import row, to_markdown, validate_rows


def test_row_and_markdown():
    rows = [row("NPMI", 0.24, 0.2312, "NPMI", "a|b"), row("docs", 7487, None, "docs")]
    md = to_markdown(rows, "T")
    assert "| NPMI | 0.24 | 0.2312 | NPMI | a/b |" in md
    assert "| docs | 7487 | – | docs |  |" in md


def test_row_with_spread_shows_mean_and_sd():
    md = to_markdown([row("acc", 81.5, 81.47, "%", "", sd=0.671)], "T")
    assert "| acc | 81.5 | 81.47 ± 0.671 | % |  |" in md


def test_rows_written_before_sd_still_validate():
    old = {"metric": "m", "paper": 1.0, "run": 2.0, "unit": "", "note": ""}
    assert validate_rows([old]) == [{**old, "sd": None}]


def test_row_rejects_non_numbers():
    with pytest.raises(TypeError):
        row("x", "0.24", 1.0)


def test_validate_rows_wants_the_contract_keys():
    with pytest.raises(ValueError, match="exactly the keys"):
        validate_rows([{"metric": "x", "paper": 1}])


def test_check_keys():
    assert check_keys({"a": 1}, "blk", ["a"], ["b"]) == {"a": 1}
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['c'\] in blk"):
        check_keys({"a": 1, "c": 2}, "blk", ["a"])
    with pytest.raises(ParameterError, match="missing"):
        check_keys({}, "blk", ["a"])


def test_final_metrics_form():
    from iclr17.common.reporting import final_metrics

    assert final_metrics({"a": 1}) == {"a": {"value": 1.0, "step": 0}}


def test_stage_nodes_are_tagged_and_checked():
    from iclr17.common.pipeline import stage_node_factory

    node = stage_node_factory("ns")(len, "x", "y", "count", "training")
    assert node.tags == {"training"} and node.name == "ns.count"
    with pytest.raises(ValueError, match="stage"):
        stage_node_factory("ns")(len, "x", "y", "count", "train")
