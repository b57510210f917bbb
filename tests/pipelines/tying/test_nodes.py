import pytest
import torch

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


def test_a_variant_changes_the_size_s_augmented_loss_settings_for_itself(corpus):
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
    checkpoint, _ = nodes.train_part("real", corpus, None, 1, "small", at_3, VARIANTS, 0, "cpu")
    finished, _ = nodes.train_finish("real", corpus, checkpoint, "small", sizes, variants, 0, "cpu")
    assert all(torch.equal(weights[k], finished[k]) for k in weights)
    with pytest.raises(ParameterError, match=r"differs in \['augmented_loss'\]"):  # the size's 2.0 is another run
        nodes.train_finish("real", corpus, checkpoint, "small", sizes, VARIANTS, 0, "cpu")
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


def test_plus_real_from_plus_re_s_branch_point_is_plus_real_from_scratch(corpus):
    """+RE saves its state after the epoch before the augmented loss starts (here 1 of 3); +REAL
    trained on from it has the weights and history of +REAL trained from scratch."""
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2, "skip_words": ["3"]}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 3}}}
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    scratch, scratch_record = nodes.train_variant("real", corpus, "small", sizes, variants, 0, "cpu")
    _, re_record, branch = nodes.train_parent("re", corpus, "small", sizes, variants, 0, "cpu")
    assert branch["epoch"] == 1 and branch["run"]["variant"] == "re" and len(re_record["history"]) == 3
    weights, record = nodes.train_branch("real", corpus, branch, "small", sizes, variants, 0, "cpu")
    assert all(torch.equal(weights[k], scratch[k]) for k in scratch)
    timing = ("tokens_per_s", "epoch_seconds")
    strip = lambda history: [{k: v for k, v in h.items() if k not in timing} for h in history]  # noqa: E731
    assert strip(record["history"]) == strip(scratch_record["history"])
    assert record["branch"]["parent"] == "re" and record["branch"]["after_epoch"] == 1
    assert record["wall_seconds"] == pytest.approx(record["branch"]["shared_seconds"] + record["branch"]["own_seconds"])
    results = nodes.evaluate_variant(corpus, weights, record, 2, "cpu")
    rows, *_ = nodes.variant_summary(results, record, PAPER)
    assert "epochs 1-1 trained once, in the +RE run" in rows[0]["note"]


def test_a_branch_point_of_other_settings_or_variant_is_refused(corpus):
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al}}
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}, "al": {"tie": False, "augmented_loss": True}}
    _, _, branch = nodes.train_parent("re", corpus, "small", sizes, variants, 0, "cpu")
    with pytest.raises(ParameterError, match=r"differs in \['seed'\].*--pipeline=tying_re with these parameters"):
        nodes.train_branch("real", corpus, branch, "small", sizes, variants, 1, "cpu")
    with pytest.raises(ParameterError, match=r"differs in \['tie'\]"):  # +AL is untied: it branches from the baseline
        nodes.train_branch("al", corpus, branch, "small", sizes, variants, 0, "cpu")
    later = {"small": {**sizes["small"], "augmented_loss": {**al, "start_epoch": 3}}}
    with pytest.raises(ParameterError, match=r"differs in \['al_start_epoch'\]"):
        nodes.train_branch("real", corpus, branch, "small", later, variants, 0, "cpu")
    with pytest.raises(ParameterError, match="the augmented loss"):  # +RE itself has nothing to go on with
        nodes.train_branch("re", corpus, branch, "small", sizes, variants, 0, "cpu")
    with pytest.raises(ValueError, match="uses the augmented loss: it is no branch point's parent"):
        nodes.train_parent("real", corpus, "small", sizes, variants, 0, "cpu")


def test_with_the_augmented_loss_from_epoch_1_the_branch_point_is_the_initialisation(corpus):
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    scratch, _ = nodes.train_variant("real", corpus, "small", SIZES, variants, 0, "cpu")
    _, _, branch = nodes.train_parent("re", corpus, "small", SIZES, variants, 0, "cpu")
    assert branch["epoch"] == 0 and branch["history"] == [] and branch["best_weights"] is None
    weights, record = nodes.train_branch("real", corpus, branch, "small", SIZES, variants, 0, "cpu")
    assert all(torch.equal(weights[k], scratch[k]) for k in scratch) and record["branch"]["after_epoch"] == 0
    rows, *_ = nodes.variant_summary(nodes.evaluate_variant(corpus, weights, record, 2, "cpu"), record, PAPER)
    assert "trained once" not in rows[0]["note"]


def test_a_run_in_parts_is_the_run_in_one_go(corpus):
    """Parts to epochs 1 and 2, then the finish to epoch 3 (the augmented loss from epoch 2): the
    weights and history of the same variant trained in one go, each part's epochs recorded."""
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 3}}}
    args = ("small", sizes, VARIANTS, 0, "cpu")
    scratch, scratch_record = nodes.train_variant("real", corpus, *args)
    first, metrics = nodes.train_part("real", corpus, None, 1, *args)
    assert first["epoch"] == 1 and [p["epochs"] for p in first["parts"]] == [[1, 1]]
    assert [p["step"] for p in metrics["valid_ppl"]] == [1]
    second, metrics = nodes.train_part("real", corpus, first, 2, *args)
    assert second["epoch"] == 2 and [p["step"] for p in metrics["valid_ppl"]] == [1, 2]
    weights, record = nodes.train_finish("real", corpus, second, *args)
    assert all(torch.equal(weights[k], scratch[k]) for k in scratch)
    timing = ("tokens_per_s", "epoch_seconds")
    strip = lambda history: [{k: v for k, v in h.items() if k not in timing} for h in history]  # noqa: E731
    assert strip(record["history"]) == strip(scratch_record["history"])
    assert [p["epochs"] for p in record["parts"]] == [[1, 1], [2, 2], [3, 3]]
    assert record["wall_seconds"] >= sum(p["seconds"] for p in record["parts"]) > 0
    rows, *_ = nodes.variant_summary(nodes.evaluate_variant(corpus, weights, record, 2, "cpu"), record, PAPER)
    assert "trained in 3 parts (epochs 1-1, 2-2, 3-3)" in rows[0]["note"]


def test_a_part_refuses_another_run_s_checkpoint_and_bad_epochs(corpus):
    args = ("small", SIZES, VARIANTS, 0, "cpu")
    checkpoint, _ = nodes.train_part("real", corpus, None, 1, *args)
    with pytest.raises(ParameterError, match=r"differs in \['seed'\].*delete the checkpoint"):
        nodes.train_part("real", corpus, checkpoint, 2, "small", SIZES, VARIANTS, 1, "cpu")
    with pytest.raises(ParameterError, match=r"differs in \['augmented_loss', 'tie', 'variant'\]"):
        nodes.train_finish("baseline", corpus, checkpoint, *args)
    beta = {"small": {**SIZES["small"], "augmented_loss": {"beta": 0.1, "tau": 2.0}}}
    with pytest.raises(ParameterError, match=r"differs in \['augmented_loss'\]"):
        nodes.train_finish("real", corpus, checkpoint, "small", beta, VARIANTS, 0, "cpu")
    with pytest.raises(ParameterError, match="already at epoch 1"):
        nodes.train_part("real", corpus, checkpoint, 1, *args)
    # the matmul precision, like the device, changes only rounding: a run may go on at another one
    medium = {"small": {**SIZES["small"], "training": {**SIZES["small"]["training"], "matmul_precision": "medium"}}}
    _, record = nodes.train_finish("real", corpus, checkpoint, "small", medium, VARIANTS, 0, "cpu")
    assert [p["epochs"] for p in record["parts"]] == [[1, 1], [2, 2]]
    for bad in (0, 3, None, True):  # the run has 2 epochs
        with pytest.raises(ParameterError, match=r"until_epoch must be an epoch in \[1, 2\]"):
            nodes.train_part("real", corpus, None, bad, *args)
    with pytest.raises(ParameterError, match="no checkpoint to finish from.*tying_real_part"):
        nodes.train_finish("real", corpus, None, *args)
    # a checkpoint at the last epoch: the finish only evaluates (no part of its own)
    last, _ = nodes.train_part("real", corpus, checkpoint, 2, *args)
    _, record = nodes.train_finish("real", corpus, last, *args)
    assert [p["epochs"] for p in record["parts"]] == [[1, 1], [2, 2]] and len(record["history"]) == 2


def test_plus_real_in_parts_from_plus_re_s_part_is_plus_real_in_one_go(corpus):
    """+RE in a part to epoch 1 (the augmented loss starts at 2 of 3), +REAL's first part on from that
    checkpoint to epoch 2, a part of its own to 3, then its finish: the weights and history of +REAL
    from scratch, with the shared epoch and each part recorded."""
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 3}}}
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    args = ("small", sizes, variants, 0, "cpu")
    scratch, scratch_record = nodes.train_variant("real", corpus, *args)
    re_checkpoint, _ = nodes.train_part("re", corpus, None, 1, *args)
    first, metrics = nodes.train_part_branch("real", corpus, re_checkpoint, 2, *args)
    assert first["epoch"] == 2 and first["run"]["variant"] == "real" and first["branch"]["parent"] == "re"
    assert [p["epochs"] for p in first["parts"]] == [[1, 1], [2, 2]] and len(metrics["valid_ppl"]) == 2
    second, _ = nodes.train_part("real", corpus, first, 3, *args)  # goes on from +REAL's own checkpoint
    assert second["branch"] == first["branch"]
    weights, record = nodes.train_finish("real", corpus, second, *args)
    assert all(torch.equal(weights[k], scratch[k]) for k in scratch)
    timing = ("tokens_per_s", "epoch_seconds")
    strip = lambda history: [{k: v for k, v in h.items() if k not in timing} for h in history]  # noqa: E731
    assert strip(record["history"]) == strip(scratch_record["history"])
    assert record["branch"]["parent"] == "re" and record["branch"]["after_epoch"] == 1
    assert record["branch"]["shared_seconds"] == pytest.approx(re_checkpoint["seconds"])
    assert record["wall_seconds"] == pytest.approx(record["branch"]["shared_seconds"] + record["branch"]["own_seconds"])
    rows, *_ = nodes.variant_summary(nodes.evaluate_variant(corpus, weights, record, 2, "cpu"), record, PAPER)
    assert "epochs 1-1 trained once, in the +RE run" in rows[0]["note"]
    assert "trained in 3 parts (epochs 1-1, 2-2, 3-3)" in rows[0]["note"]


def test_a_branch_part_refuses_a_missing_late_or_other_parent_checkpoint(corpus):
    al = {"beta": 0.3, "tau": 1.0, "start_epoch": 2}
    sizes = {"small": {**SIZES["small"], "augmented_loss": al, "training": {**SIZES["small"]["training"], "epochs": 3}}}
    variants = {**VARIANTS, "re": {"tie": True, "augmented_loss": False}}
    args = ("small", sizes, variants, 0, "cpu")
    with pytest.raises(ParameterError, match=r"no re checkpoint.*tying_re_part --params tying.until_epoch=1 first"):
        nodes.train_part_branch("real", corpus, None, 2, *args)
    at_1, _ = nodes.train_part("re", corpus, None, 1, *args)
    at_2, _ = nodes.train_part("re", corpus, at_1, 2, *args)
    with pytest.raises(ParameterError, match=r"re checkpoint is after epoch 2, but the augmented loss starts at epoch 2"):
        nodes.train_part_branch("real", corpus, at_2, 3, *args)
    with pytest.raises(ParameterError, match=r"differs in \['seed'\]"):
        nodes.train_part_branch("real", corpus, at_1, 2, "small", sizes, variants, 1, "cpu")
    for bad in (1, 4, None, True):  # after the branch point's epoch 1, at most the run's 3
        with pytest.raises(ParameterError, match=r"until_epoch must be an epoch in \[2, 3\]"):
            nodes.train_part_branch("real", corpus, at_1, bad, *args)
    with pytest.raises(ParameterError, match="differ in tie"):
        nodes.train_part_branch("real", corpus, at_1, 2, "small", sizes, {**variants, "re": {"tie": False, "augmented_loss": False}}, 0, "cpu")
    from_start = {"small": {**sizes["small"], "augmented_loss": {**al, "start_epoch": 1}}}
    with pytest.raises(ParameterError, match="starts at epoch 1.*tying_real_part"):
        nodes.train_part_branch("real", corpus, at_1, 2, "small", from_start, variants, 0, "cpu")
    with pytest.raises(ValueError, match="an augmented-loss variant"):
        nodes.train_part_branch("re", corpus, at_1, 2, *args)


def test_optional_checkpoint_dataset_loads_none_until_saved(tmp_path):
    from iclr17.pipelines.tying.datasets import OptionalPickleDataset

    dataset = OptionalPickleDataset(filepath=str(tmp_path / "checkpoint.pkl"))
    assert dataset.load() is None
    dataset.save({"epoch": 3})
    assert dataset.load() == {"epoch": 3}


def test_a_part_that_ends_early_says_so(corpus):
    """A plateau schedule whose decays run out before ``until_epoch`` (at lr 0 no epoch improves on the
    first) leaves no checkpoint to go on from."""
    plateau = {"type": "plateau", "rate": 0.5, "max_decays": 0}
    sizes = {"small": {**SIZES["small"], "training": {**SIZES["small"]["training"], "epochs": 30, "lr": 0.0,
                                                      "lr_decay": plateau}}}
    with pytest.raises(RuntimeError, match=r"ended in this part, after epoch 2 \(its learning-rate decays were used up\).*--pipeline=tying_baseline"):
        nodes.train_part("baseline", corpus, None, 30, "small", sizes, VARIANTS, 0, "cpu")
