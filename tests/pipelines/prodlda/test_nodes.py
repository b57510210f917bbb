import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from iclr17.common.config import ParameterError
from iclr17.pipelines.prodlda import nodes

VOCAB = {"_eos_": 0, "write": 1, "article": 2, "god": 3, "say": 4, "time": 5, "times": 6, "make": 7}


def test_strip_headers_and_tokenize():
    msg = "From: x@y.z\nSubject: God\n\nIn article <a@b>, x@y.z writes:\n> God said: make it!\nTimes you're right"
    body = nodes.strip_headers(msg)
    assert not body.startswith("From")
    words = nodes.VocabLemmatizer(VOCAB)
    # 'writes' -> write, 'said' -> say, 'times' stays (in vocabulary), emails and "you're" drop
    assert nodes.tokenize(body, words) == ["article", "write", "god", "say", "make", "times"]


def test_preprocess_drops_empty_docs_and_checks_params():
    raw = [
        {"id": "g/1", "group": "g", "text": "H: v\n\nGod says"},
        {"id": "g/2", "group": "g", "text": "H: v\n\nnothing known here"},
    ]
    params = {"strip_headers": True, "max_docs": None}
    out = nodes.preprocess_corpus(raw, VOCAB, params)
    assert out.to_dict("records") == [{"id": "g/1", "group": "g", "tokens": "god say"}]
    with pytest.raises(ParameterError, match="unknown parameter"):
        nodes.preprocess_corpus(raw, VOCAB, {**params, "lemmatise": True})
    with pytest.raises(ValueError, match="id, group, text"):
        nodes.preprocess_corpus([{"text": "x"}], VOCAB, params)


def test_vocab_must_be_dense():
    with pytest.raises(ValueError, match="0..V-1"):
        nodes.vocab_to_index({"a": 0, "b": 2})


def test_compare_with_paper_test_aligns_around_extra_docs():
    ours = pd.DataFrame({"tokens": ["god say", "extra doc here", "write article", "time make"]})
    paper = "god say\nwrite article\ntime time\n"
    res = nodes.compare_with_paper_test(ours, paper)
    assert res["docs_ours"] == 4 and res["docs_paper"] == 3
    assert res["docs_aligned"] == 2 and res["docs_identical"] == 2
    assert res["token_jaccard"] == pytest.approx(1.0)


def test_build_bow_counts_and_split_choice():
    train = pd.DataFrame({"tokens": ["god god say", "write"]})
    test = pd.DataFrame({"tokens": ["make"]})
    bow = nodes.build_bow(train, test, "time\nsay say\n", VOCAB, "own")
    assert bow["train"].shape == (2, len(VOCAB))
    assert bow["train"][0, VOCAB["god"]] == 2 and bow["train"][1, VOCAB["write"]] == 1
    assert bow["test"].shape[0] == 1
    paper = nodes.build_bow(train, test, "time\nsay say\n", VOCAB, "paper")
    assert paper["test"].shape[0] == 2 and paper["test"][1, VOCAB["say"]] == 2
    with pytest.raises(ValueError, match="own' or 'paper"):
        nodes.build_bow(train, test, "", VOCAB, "valid")


def test_reference_corpus_parts():
    train = pd.DataFrame({"tokens": ["god say"]})
    test = pd.DataFrame({"tokens": ["make"]})
    npmi = {"window_size": 20, "top_n": 10, "reference": ["train", "paper_test"]}
    docs = nodes.build_reference_corpus(train, test, "time\n", VOCAB, npmi)
    assert [d.tolist() for d in docs] == [[3, 4], [5]]
    with pytest.raises(ValueError, match="reference"):
        nodes.build_reference_corpus(train, test, "", VOCAB, {**npmi, "reference": ["wiki"]})


def test_top_words():
    words = ["a", "b", "c"]
    assert nodes.top_words(np.array([[0.1, 0.9, 0.5], [3, 1, 2]]), words, 2) == [["b", "c"], ["a", "c"]]
    with pytest.raises(ValueError, match="does not match"):
        nodes.top_words(np.ones((2, 4)), words, 2)


def test_parse_coherence_log():
    topics, scores = nodes.parse_coherence_log("header\n[0.24] a b c\n[-0.01] d e\nAverage = 0.1\n")
    assert topics == [["a", "b", "c"], ["d", "e"]] and scores.tolist() == [0.24, -0.01]
    with pytest.raises(ValueError):
        nodes.parse_coherence_log("nothing")


def test_train_avitm_rejects_unknown_params_and_tiny_data():
    bow = {"train": sp.csr_matrix(np.ones((10, 8), dtype=np.float32))}
    good = dict(decoder="prodlda", hidden=[4, 4], dropout=0.1, alpha=1.0, lr=0.01, beta1=0.9, epochs=1, batch_size=5)
    res = nodes.train_avitm(bow, 2, [0], good, "cpu", 1)
    assert res[0]["topic_word"].shape == (2, 8) and len(res[0]["history"]["loss"]) == 1
    assert res[0]["device"].startswith("cpu")
    with pytest.raises(ParameterError, match="unknown parameter"):
        nodes.train_avitm(bow, 2, [0], {**good, "momentum": 0.9}, "cpu")
    with pytest.raises(ValueError, match="fewer than one batch"):
        nodes.train_avitm(bow, 2, [0], {**good, "batch_size": 50}, "cpu")
    with pytest.raises(ValueError, match="device"):
        nodes.train_avitm(bow, 2, [0], good, "tpu")


def test_npmi_calibration_against_the_paper_log(mirror):
    """The acceptance bar of the NPMI implementation: the paper's 150 logged topics, scored with our
    NPMI on the default reference corpus, must correlate r >= 0.9 with the toolkit's scores and
    differ by <= 0.03 on average."""
    from iclr17.common.raw_data import READERS

    raw = READERS["jsonl_gz"](mirror / "20news_bydate" / "train.jsonl.gz")
    vocab = READERS["pickle_py2"](mirror / "20news_avitm" / "vocab.pkl")
    paper_test = READERS["text_gz"](mirror / "20news_avitm" / "test.txt.gz")
    log = READERS["text"](mirror / "20news_avitm" / "paper_coherence_K50.log")
    train = nodes.preprocess_corpus(raw, vocab, {"strip_headers": True})
    npmi = {"window_size": 20, "top_n": 10, "reference": ["train", "paper_test"]}
    ref = nodes.build_reference_corpus(train, None, paper_test, vocab, npmi)
    cal = nodes.calibrate_npmi(log, ref, vocab, npmi)
    assert cal["n_topics"] == 150
    assert cal["pearson_r"] >= 0.9
    assert cal["mean_abs_diff"] <= 0.03


def test_a_seed_stopped_after_an_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    from iclr17.common.checkpoint import Checkpoints
    from tests.conftest import stop_after_save

    rng = np.random.default_rng(0)
    bow = {"train": sp.csr_matrix(rng.poisson(1.0, (40, 12)).astype(np.float32))}
    p = dict(decoder="prodlda", hidden=[8, 8], dropout=0.2, alpha=1.0, lr=0.01, beta1=0.9, epochs=3, batch_size=10)
    straight = nodes.train_avitm(bow, 3, [0], p, "cpu", 1)[0]
    with stop_after_save(1):
        nodes.train_avitm(bow, 3, [0], p, "cpu", 1, Checkpoints(str(tmp_path)))
    resumed = nodes.train_avitm(bow, 3, [0], p, "cpu", 1, Checkpoints(str(tmp_path)))[0]
    assert resumed["resumed_after_epoch"] == 1 and resumed["history"] == straight["history"]
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in straight["state_dict"].items())
    assert np.array_equal(resumed["topic_word"], straight["topic_word"])
    with pytest.raises(ParameterError, match="lr"):  # another learning rate: refused, the key named
        nodes.train_avitm(bow, 3, [0], {**p, "lr": 0.02}, "cpu", 1, Checkpoints(str(tmp_path)))
