import pytest
import torch

from iclr17.common.checkpoint import CheckpointMismatch, Checkpoints
from iclr17.common.config import ParameterError
from iclr17.pipelines.tying import nodes

SIZES = {
    "small": {
        "model": {"hidden": 8, "layers": 2, "dropout": 0.2, "embedding_dropout": 0.0, "init_scale": 0.1},
        "augmented_loss": {"beta": 0.5, "tau": 2.0},
        "training": {"batch_size": 4, "bptt": 5, "lr": 1.0, "epochs": 2, "clip_norm": 5.0, "eval_batch_size": 2,
                     "lr_decay": {"type": "after_epoch", "start_epoch": 2, "rate": 0.5}},
    }
}
VARIANTS = {"baseline": {"tie": False, "augmented_loss": False}, "real": {"tie": True, "augmented_loss": True}}
PAPER = {"small": {"baseline": [92.6, 87.3], "real": [86.3, 82.7]}}


@pytest.fixture
def corpus(toy_lm_corpus):
    return toy_lm_corpus


@pytest.mark.parametrize("variant", ["baseline", "real"])
def test_train_and_evaluate_a_variant(corpus, variant):
    weights, record = nodes.train_variant(variant, corpus, "small", SIZES, VARIANTS, 0, "cpu")
    assert record["variant"] == variant and len(record["history"]) == 2
    assert record["beta"] == (0.5 if variant == "real" else 0.0)
    results = nodes.evaluate_variant(corpus, weights, record, 2, "cpu")
    assert results["tied_storage"] is (variant == "real")
    assert results["stopped"] is None  # no divergence on the toy corpus
    assert 1 < results["test_ppl"] < 100 and 1 < results["valid_ppl"] < 100
    assert results["n_parameters"] == record["n_parameters"]
    rows, md, metrics, fig = nodes.variant_summary(results, record, PAPER)
    assert [r["paper"] for r in rows] == PAPER["small"][variant]
    assert rows[1]["run"] == pytest.approx(results["test_ppl"])
    assert [p["step"] for p in metrics["valid_ppl"]] == [1, 2]
    assert metrics["final_test_ppl"]["value"] == pytest.approx(results["test_ppl"])
    assert "| small" in md
    # the note says which settings are this project's assumptions, with their values
    note = rows[0]["note"]
    assert "assumed" in note and "dropout 0.2 (separate masks)" in note and "clip 5.0" in note
    assert ("beta 0.5, tau 2.0" in rows[0]["note"]) is (variant == "real")
    if variant == "real":  # how informative the augmented loss's targets were, logged for AL variants
        assert 0 < results["al_target"]["entropy_fraction_of_uniform"] <= 1
        assert metrics["al_target_self_prob"]["value"] == pytest.approx(results["al_target"]["self_prob"])
        assert "AL target entropy" in rows[0]["note"]
    else:
        assert results["al_target"] is None and "al_target_self_prob" not in metrics


def test_the_paper_s_per_layer_masks_are_a_parameter(corpus):
    model_cfg = {**SIZES["small"]["model"], "mask_sharing": "per_layer"}
    sizes = {"small": {**SIZES["small"], "model": model_cfg, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights, record = nodes.train_variant("baseline", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert nodes.build_model(10, record["model"], tie=False).mask_sharing == "per_layer"
    assert "(per_layer masks)" in nodes.assumed_settings(record)


def test_undropped_embedded_input_is_a_parameter(corpus):
    model_cfg = {**SIZES["small"]["model"], "input_dropout": 0.0}
    sizes = {"small": {**SIZES["small"], "model": model_cfg, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights, record = nodes.train_variant("baseline", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert nodes.build_model(10, record["model"], tie=False).input_dropout == 0.0
    assert "embedded-input dropout 0.0" in nodes.assumed_settings(record)
    default = {**record, "model": SIZES["small"]["model"]}
    assert "embedded-input" not in nodes.assumed_settings(default)


def test_unknown_variant_size_and_keys_are_rejected(corpus):
    with pytest.raises(ValueError, match="unknown variant"):
        nodes.train_variant("xl", corpus, "small", SIZES, VARIANTS, 0, "cpu")
    with pytest.raises(ValueError, match="tying.size"):
        nodes.train_variant("real", corpus, "huge", SIZES, VARIANTS, 0, "cpu")
    bad = {"small": {**SIZES["small"], "model": {**SIZES["small"]["model"], "hiden": 3}}}
    with pytest.raises(ParameterError, match="hiden"):
        nodes.train_variant("real", corpus, "small", bad, VARIANTS, 0, "cpu")
    bad = {"small": {**SIZES["small"], "augmented_loss": {"beta": 0.1, "tau": 10.0, "scale": "vocab"}}}
    with pytest.raises(ParameterError, match="scale must be one of"):
        nodes.train_variant("real", corpus, "small", bad, VARIANTS, 0, "cpu")
    bad = {"small": {**SIZES["small"], "augmented_loss": {"beta": 0.1, "tau": 1.0, "target_grad": "yes"}}}
    with pytest.raises(ParameterError, match="target_grad must be true or false"):
        nodes.train_variant("real", corpus, "small", bad, VARIANTS, 0, "cpu")


def test_the_paper_s_vocabulary_scaled_weight_is_a_parameter(corpus):
    al = {"beta": 1e-4, "tau": 10.0, "scale": "tau2_vocab"}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights, record = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert record["al_scale"] == "tau2_vocab"
    assert "beta 0.0001, tau 10.0, AL weight tau2_vocab" in nodes.assumed_settings(record)
    assert record["al_target_grad"] is False and "AL target" not in nodes.assumed_settings(record)


def test_gradient_through_the_augmented_loss_target_is_a_parameter(corpus):
    al = {"beta": 0.1, "tau": 1.0, "target_grad": True}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights_on, record = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert record["al_target_grad"] is True and record["al_scale"] == "tau2"
    assert "beta 0.1, tau 1.0, gradient through the AL target" in nodes.assumed_settings(record)
    # the embedding learns from the augmented loss's target only with it on: one epoch from the
    # same seed ends at different weights
    off = {"small": {**sizes["small"], "augmented_loss": {**al, "target_grad": False}}}
    weights_off, _ = nodes.train_variant("real", corpus, "small", off, VARIANTS, 0, "cpu")
    assert not torch.allclose(weights_on["embedding.weight"], weights_off["embedding.weight"])


def test_an_untempered_prediction_reaches_the_training_and_the_record(corpus):
    al = {"beta": 0.3, "tau": 3.0, "scale": "beta", "tempered_prediction": False}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights_plain, record = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert record["al_tempered_prediction"] is False
    assert "beta 0.3, tau 3.0, AL weight beta, AL against the untempered prediction" in nodes.assumed_settings(record)
    # against the tempered prediction (same weight beta) one epoch from the same seed ends elsewhere
    tempered = {"small": {**sizes["small"], "augmented_loss": {**al, "tempered_prediction": True}}}
    weights_tempered, record = nodes.train_variant("real", corpus, "small", tempered, VARIANTS, 0, "cpu")
    assert record["al_tempered_prediction"] is True and "untempered" not in nodes.assumed_settings(record)
    assert not torch.allclose(weights_plain["embedding.weight"], weights_tempered["embedding.weight"])


def test_a_variant_changes_the_size_s_augmented_loss_settings_for_itself(corpus, tmp_path):
    """``augmented_loss: {tau: 3.0}`` on a variant: its own temperature over the size's (2.0 here),
    the run the same as with 3.0 set for the size, and its checkpoints interchangeable with that run's."""
    sizes = {"small": {**SIZES["small"], "training": {**SIZES["small"]["training"], "epochs": 2}}}
    at_3 = {"small": {**sizes["small"], "augmented_loss": {**SIZES["small"]["augmented_loss"], "tau": 3.0}}}
    variants = {**VARIANTS, "real": {"tie": True, "augmented_loss": {"tau": 3.0}}}
    weights, record = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu")
    assert record["tau"] == 3.0 and record["beta"] == 0.5 and record["augmented_loss"] is True
    same, _ = nodes.train_variant("real", corpus, "small", at_3, VARIANTS, 0, "cpu")
    assert all(torch.equal(weights[k], same[k]) for k in same)
    other, _ = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")  # the size's 2.0
    assert not torch.equal(weights["embedding.weight"], other["embedding.weight"])
    folder = Checkpoints(str(tmp_path))
    nodes.train_variant("real", corpus, "small", at_3, VARIANTS, 0, "cpu", folder)
    finished, record = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu", folder)
    assert record["resumed_after_epoch"] == 2 and all(torch.equal(weights[k], finished[k]) for k in weights)
    with pytest.raises(CheckpointMismatch, match=r"augmented_loss\.tau"):  # the size's 2.0 is another run
        nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu", folder)
    bad = {"real": {"tie": True, "augmented_loss": {"start_epoch": 2}}}
    with pytest.raises(ParameterError, match="start_epoch is the size's"):
        nodes.train_variant("real", corpus, "small", sizes, bad, 0, "cpu")
    with pytest.raises(ParameterError, match=r"\['tua'\] in tying.variants.real.augmented_loss"):
        nodes.train_variant("real", corpus, "small", sizes, {"real": {"tie": True, "augmented_loss": {"tua": 3.0}}}, 0, "cpu")
    with pytest.raises(ParameterError, match="augmented_loss true, false or a mapping"):
        nodes.train_variant("real", corpus, "small", sizes, {"real": {"tie": True, "augmented_loss": "yes"}}, 0, "cpu")


def test_ordering_check():
    res = lambda v, t: {"variant": v, "test_ppl": t}  # noqa: E731
    good = nodes.ordering_check([res("baseline", 90), res("al", 85), res("re", 86), res("real", 83)])
    assert good["complete"] and good["baseline_worst"] and good["real_best"]
    bad = nodes.ordering_check([res("baseline", 80), res("al", 85), res("re", 86), res("real", 83)])
    assert not bad["baseline_worst"] and not bad["real_best"] and not bad["al_beats_baseline"]
    assert nodes.ordering_check([res("real", 83)]) == {"complete": False, "missing": ["baseline", "al", "re"]}


def test_a_late_augmented_loss_trains_as_plus_re_before_its_start_epoch(corpus):
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights_real, record = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert record["al_start_epoch"] == 2 and [h["beta"] for h in record["history"]] == [0.0]
    assert "beta 0.3, tau 1.0, AL from epoch 2 (beta 0 before)" in nodes.assumed_settings(record)
    # epoch 1 is plain cross-entropy: +REAL's weights are +RE's from the same seed
    with_re = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    weights_re, _ = nodes.train_variant("re", corpus, "small", sizes, with_re, 0, "cpu")
    assert all(torch.equal(weights_real[k], weights_re[k]) for k in weights_re)
    # and from epoch 2 on the augmented loss is in force
    two = {"small": {**sizes["small"], "training": {**sizes["small"]["training"], "epochs": 2}}}
    _, record = nodes.train_variant("real", corpus, "small", two, VARIANTS, 0, "cpu")
    assert [h["beta"] for h in record["history"]] == [0.0, 0.3]


def test_skip_words_reach_the_training_and_the_record(corpus):
    sizes = {"small": {**SIZES["small"], "augmented_loss": {"beta": 0.3, "tau": 1.0, "skip_words": ["3"]},
                       "training": {**SIZES["small"]["training"], "epochs": 1}}}
    weights, record = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert record["al_skip_words"] == ["3"]
    assert "beta 0.3, tau 1.0, no AL where the next word is 3" in nodes.assumed_settings(record)
    # skipping changes the training (word 3 is about a twentieth of the targets)
    sizes["small"]["augmented_loss"] = {"beta": 0.3, "tau": 1.0}
    plain, _ = nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")
    assert not torch.equal(weights["embedding.weight"], plain["embedding.weight"])
    sizes["small"]["augmented_loss"] = {"beta": 0.3, "tau": 1.0, "skip_words": ["<unk>"]}
    with pytest.raises(ParameterError, match=r"skip_words \['<unk>'\] are not in the vocabulary"):
        nodes.train_variant("real", corpus, "small", sizes, VARIANTS, 0, "cpu")


def _timeless(history):
    return [{k: v for k, v in h.items() if k not in ("tokens_per_s", "epoch_seconds")} for h in history]


def test_plus_real_starts_from_plus_re_s_kept_epoch_and_equals_plus_real_from_scratch(corpus, tmp_path):
    """+RE keeps its state after the epoch before the augmented loss starts; +REAL, with no
    checkpoint of its own, starts there: the weights and history of +REAL from scratch."""
    sizes = {"small": {**SIZES["small"], "augmented_loss": {"beta": 0.3, "tau": 1.0, "start_epoch": 2},
                       "training": {**SIZES["small"]["training"], "epochs": 3}}}
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    scratch, scratch_record = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu")
    re_folder, real_folder = Checkpoints(str(tmp_path / "re")), Checkpoints(str(tmp_path / "real"))
    _, re_record = nodes.train_variant("re", corpus, "small", sizes, variants, 0, "cpu", re_folder)
    assert (tmp_path / "re" / "train.epoch1.pt").exists()
    weights, record = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu", real_folder, re_folder)
    assert record["branch"]["parent"] == "re" and record["branch"]["after_epoch"] == 1
    assert record["history"][0] == re_record["history"][0]  # epoch 1 is +RE's, timing and all
    assert _timeless(record["history"]) == _timeless(scratch_record["history"])
    assert all(torch.equal(weights[k], scratch[k]) for k in scratch)
    rows = nodes._rows({**nodes.evaluate_variant(corpus, weights, record, 2, "cpu")}, PAPER)
    assert "epochs 1-1 trained once, in the +RE run" in rows[0]["note"]
    # another seed's +RE state is not +REAL's start: it trains from scratch
    _, other = nodes.train_variant("real", corpus, "small", sizes, variants, 1, "cpu",
                                   Checkpoints(str(tmp_path / "real1")), re_folder)
    assert "branch" not in other and other["resumed_after_epoch"] is None
    # with resuming off (--params resume=false turns it off for every checkpoint folder), nothing is read
    _, fresh = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu",
                                   Checkpoints(str(tmp_path / "real"), resume=False),
                                   Checkpoints(str(tmp_path / "re"), resume=False))
    assert "branch" not in fresh and fresh["resumed_after_epoch"] is None
