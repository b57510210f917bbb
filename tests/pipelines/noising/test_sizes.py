"""The ready-made medium and large configurations (the paper's GPU sizes) parse, build their
models and take a bigram Kneser-Ney-noised training step."""

import numpy as np
import pytest
import yaml

from iclr17.pipelines.noising import nodes
from tests.conftest import ROOT, random_lm_corpus

PARAMS = yaml.safe_load((ROOT / "conf/base/parameters_noising.yml").read_text())["noising"]
VOCAB = 10_000  # PTB


@pytest.mark.parametrize("size", ["medium", "large"])
def test_gpu_size_trains_one_noised_step_from_the_base_configuration(size):
    cfg = PARAMS["sizes"][size]
    train = cfg["training"]
    tokens = train["batch_size"] * train["bptt"] + 1  # one BPTT window
    corpus = random_lm_corpus(VOCAB, tokens, 200)
    stats, _ = nodes.noising_statistics(corpus)
    sizes = {size: {**cfg, "training": {**train, "epochs": 1}}}
    weights, record = nodes.train_scheme("bigram_kn", corpus, stats, size, sizes, PARAMS["runs"], 0, "cpu")
    assert record["scheme"] == "bigram_kn" and record["model"]["hidden"] == cfg["model"]["hidden"]
    assert len(record["history"]) == 1 and np.isfinite(record["history"][0]["valid_ppl"])
    assert weights["embedding.weight"].shape == (VOCAB + 1, cfg["model"]["hidden"])  # + the blank <_>
