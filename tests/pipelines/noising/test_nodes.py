import pytest

from iclr17.common.config import ParameterError
from iclr17.pipelines.noising import nodes

SIZES = {"small": {
    "model": {"hidden": 8, "layers": 2, "dropout": 0.2, "embedding_dropout": 0.0, "init_scale": 0.1},
    "training": {"batch_size": 4, "bptt": 5, "lr": 1.0, "epochs": 3, "clip_norm": 5.0, "eval_batch_size": 2,
                 "lr_decay": {"type": "plateau", "rate": 0.5, "max_decays": 2}},
}}
RUNS = {"none": {"scheme": "none", "gamma": 0.0, "absolute_discounting": False},
        "bigram_kn": {"scheme": "bigram_kn", "gamma": 0.2, "absolute_discounting": True}}


@pytest.fixture
def corpus(toy_lm_corpus):
    return toy_lm_corpus


@pytest.mark.parametrize("run", ["none", "bigram_kn"])
def test_train_evaluate_and_summarise_a_scheme(corpus, run):
    stats, summary = nodes.noising_statistics(corpus)
    assert summary["distinct_bigrams"] > 0 and len(summary["most_frequent"]) == 10
    weights, record = nodes.train_scheme(run, corpus, stats, "small", SIZES, RUNS, 0, "cpu")
    assert weights["embedding.weight"].shape == (21, 8)  # the vocabulary plus <_>, for every scheme
    results = nodes.evaluate_scheme(corpus, weights, record, 2, "cpu")
    assert results["scheme"] == RUNS[run]["scheme"] and 1 < results["test_ppl"] < 100
    rows, md, metrics, _ = nodes.scheme_summary(results, record, {})
    assert rows[0]["paper"] is None and "no verified paper number" in rows[0]["note"]
    assert "final_test_ppl" in metrics and len(metrics["valid_ppl"]) == len(record["history"])


def test_report_ranks_schemes_and_checks_the_kn_gain():
    res = lambda run, t: {"run": run, "size": "small", "scheme": run, "gamma": 0.2, "absolute_discounting": False,  # noqa: E731
                          "valid_ppl": t + 3, "test_ppl": t, "epochs_run": 1, "best_epoch": 1, "tokens_per_s": 1.0,
                          "device": "cpu"}
    rec = lambda run: {"history": [{"epoch": 1, "train_ppl": 200.0, "valid_ppl": 150.0}]}  # noqa: E731
    rows, md, summary, _ = nodes.report({}, res("none", 100.0), res("bigram_kn", 97.5), rec("none"), rec("bigram_kn"))
    assert summary["ranking_best_first"] == ["bigram_kn", "none"]
    assert summary["bigram_kn_gain_over_none"] == pytest.approx(2.5)
    assert rows[-1]["run"] == pytest.approx(2.5) and "bigram_kn < none" in md


def test_bad_parameters(corpus):
    stats, _ = nodes.noising_statistics(corpus)
    with pytest.raises(ValueError, match="unknown run"):
        nodes.train_scheme("trigram", corpus, stats, "small", SIZES, RUNS, 0, "cpu")
    with pytest.raises(ValueError, match="noising.size"):
        nodes.train_scheme("none", corpus, stats, "xl", SIZES, RUNS, 0, "cpu")
    with pytest.raises(ParameterError, match="gama"):
        nodes.train_scheme("none", corpus, stats, "small", SIZES, {"none": {"scheme": "none", "gama": 0.1,
                                                                          "absolute_discounting": False}}, 0, "cpu")
