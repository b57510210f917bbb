import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from iclr17.common.checkpoint import CheckpointMismatch, Checkpoints
from iclr17.common.config import ParameterError
from iclr17.common.lm.data import (
    batchify,
    bptt_windows,
    build_vocab,
    corpus_stats,
    n_windows,
    prepare_corpus,
    ptb_corpus,
    tokenize,
)
from iclr17.common.lm.model import (
    LSTMLanguageModel,
    variational_mask,
)
from iclr17.common.lm.train import (
    CrossEntropy,
    evaluate,
    learning_rate,
    token_losses,
    train_language_model,
)
from iclr17.common.raw_data import RawFileDataset
from iclr17.pipelines.tying.augmented_loss import (
    AugmentedLoss,
    AugmentedObjective,
    augmented_loss,
    augmented_loss_weight,
    augmented_target_stats,
    language_model_loss,
)
from tests.conftest import stop_after_save

PTB = {
    "train": ("c4c6455d85f60640431f7bc738d51265ba2d55dcce10e8906322d6f9e3dcca81", 929_589, 42_068),
    "valid": ("f2148d96d82f827399b7e5040868a4541bd2d2612ebaf5a2ff213bc07fd74eb8", 73_760, 3_370),
    "test": ("5015d206077ff3e96161868c5c280ec8a28e9ad5617ef99ee0e734aaef6130c5", 82_430, 3_761),
}


@pytest.fixture(scope="module")
def ptb(mirror, tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    texts = {
        split: RawFileDataset(
            dataset="ptb", member=f"ptb.{split}.txt.gz", sha256=sha, url="https://example.invalid/ptb",
            reader="text_gz", raw_dir=str(raw),
        ).load()
        for split, (sha, _, _) in PTB.items()
    }
    expected = {"vocab_size": 10_000, "tokens": {s: n for s, (_, n, _) in PTB.items()}}
    return ptb_corpus(texts["train"], texts["valid"], texts["test"], {"expected": expected, "max_tokens": None})


def test_ptb_counts_match_the_published_ones(ptb):
    corpus, stats = ptb
    assert stats["vocab_size"] == 10_000
    for split, (_, tokens, sentences) in PTB.items():
        assert stats[f"{split}_tokens"] == tokens
        assert stats[f"{split}_sentences"] == sentences
    assert corpus["vocab"][0] == "the" and "<unk>" in corpus["vocab"] and "<eos>" in corpus["vocab"]
    assert corpus["train"].dtype == np.int64 and corpus["train"].max() == 9_999


def test_wrong_counts_and_unknown_words_fail_loudly():
    with pytest.raises(ValueError, match="train has 4 tokens, expected 5"):
        prepare_corpus({"train": "a b c", "valid": "a", "test": "b"}, {"tokens": {"train": 5}})
    with pytest.raises(ValueError, match="valid: 1 word"):
        prepare_corpus({"train": "a b", "valid": "zzz", "test": "a"})
    with pytest.raises(ValueError, match="splits missing"):
        prepare_corpus({"train": "a"})


def test_tokenize_and_vocab_order():
    tokens = tokenize(" b a b\n c b\n")
    assert tokens == ["b", "a", "b", "<eos>", "c", "b", "<eos>"]
    assert build_vocab(tokens) == ["b", "<eos>", "a", "c"]
    corpus = prepare_corpus({"train": " b a b\n c b\n", "valid": " a\n", "test": " c\n"})
    assert corpus_stats(corpus) == {
        "vocab_size": 4, "train_tokens": 7, "valid_tokens": 2, "test_tokens": 2,
        "train_sentences": 2, "valid_sentences": 1, "test_sentences": 1,
    }


def test_batchify_and_bptt_shapes():
    data = batchify(np.arange(103), 4)
    assert data.shape == (4, 25)
    assert data[1, 0].item() == 25  # row b continues the stream at b * steps
    windows = list(bptt_windows(data, 10))
    assert len(windows) == n_windows(data, 10) == 3
    assert [x.shape[1] for x, _ in windows] == [10, 10, 4]
    for x, y in windows:
        assert x.shape == y.shape
        assert torch.equal(y, x + 1)  # targets are the next token
    with pytest.raises(ValueError):
        batchify(np.arange(5), 4)
    with pytest.raises(ValueError):
        list(bptt_windows(data, 0))


def test_tied_weights_share_storage():
    tied = LSTMLanguageModel(50, 8, tie=True)
    untied = LSTMLanguageModel(50, 8, tie=False)
    assert tied.decoder.weight is tied.embedding.weight
    assert tied.decoder.weight.data_ptr() == tied.embedding.weight.data_ptr()
    assert untied.decoder.weight.data_ptr() != untied.embedding.weight.data_ptr()
    assert untied.n_parameters() - tied.n_parameters() == 50 * 8
    # one gradient step moves "both" matrices together
    logits, _ = tied(torch.randint(0, 50, (2, 3)))
    logits.sum().backward()
    with torch.no_grad():
        tied.embedding.weight -= 0.1 * tied.embedding.weight.grad
    assert torch.equal(tied.decoder.weight, tied.embedding.weight)


def test_variational_mask_is_constant_over_time():
    torch.manual_seed(0)
    x = torch.ones(3, 7, 16)
    mask = variational_mask(x, 0.5)
    assert mask.shape == (3, 1, 16)
    dropped = x * mask
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # every step the same units
    assert set(mask.unique().tolist()) <= {0.0, 2.0}


def test_lstm_layer_without_mask_matches_torch_lstm_with_its_gradients():
    """The hand-written layer (needed for the per-sequence recurrent mask) is torch's LSTM cell:
    same outputs, final state and weight gradients with the same weights (gate order i, f, g, o)."""
    from iclr17.common.lm.model import VariationalLSTMLayer

    torch.manual_seed(0)
    ours, ref = VariationalLSTMLayer(5, 7), torch.nn.LSTM(5, 7, batch_first=True)
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-0.5, 0.5)
        ref.weight_ih_l0.copy_(ours.weight_ih)
        ref.weight_hh_l0.copy_(ours.weight_hh)
        ref.bias_ih_l0.copy_(ours.bias)
        ref.bias_hh_l0.zero_()
    x = torch.randn(3, 6, 5)
    h0, c0 = torch.randn(3, 7), torch.randn(3, 7)
    out, (h, c) = ours(x, (h0, c0))
    out_ref, (h_ref, c_ref) = ref(x, (h0[None], c0[None]))
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref[0])
    torch.testing.assert_close(c, c_ref[0])
    (out.square().sum() + c.sum()).backward()
    (out_ref.square().sum() + c_ref.sum()).backward()
    torch.testing.assert_close(ours.weight_ih.grad, ref.weight_ih_l0.grad)
    torch.testing.assert_close(ours.weight_hh.grad, ref.weight_hh_l0.grad)
    torch.testing.assert_close(ours.bias.grad, ref.bias_ih_l0.grad)


def test_recurrent_mask_is_used_at_every_step(monkeypatch):
    """The model draws each mask once per forward call (not per time step)."""
    calls = []
    import iclr17.common.lm.model as model_module

    real = model_module.variational_mask
    monkeypatch.setattr(model_module, "variational_mask", lambda like, p: calls.append(like.shape) or real(like, p))
    model = LSTMLanguageModel(30, 6, layers=2, dropout=0.3)
    model.train()
    model(torch.randint(0, 30, (4, 9)))
    assert len(calls) == 2 * 2 + 1  # input + recurrent per layer, output once; not 9x as many
    model.eval()
    calls.clear()
    model(torch.randint(0, 30, (4, 9)))
    assert calls == []


@pytest.fixture
def layer_calls(monkeypatch):
    """What each VariationalLSTMLayer call receives, in call order: (its input, its recurrent mask)."""
    import iclr17.common.lm.model as model_module

    seen = []
    real_forward = model_module.VariationalLSTMLayer.forward

    def spy(self, x, state, h_mask=None):
        seen.append((x.detach().clone(), h_mask))
        return real_forward(self, x, state, h_mask)

    monkeypatch.setattr(model_module.VariationalLSTMLayer, "forward", spy)
    return seen


def test_per_layer_masks_share_the_recurrent_mask_with_the_next_layer(monkeypatch, layer_calls):
    """mask_sharing=per_layer: the embedded input's mask and one per layer (3 for 2 layers), and
    the mask a layer applies to its recurrent state is the one its output leaves with."""
    import iclr17.common.lm.model as model_module

    drawn = []
    real_mask = model_module.variational_mask
    monkeypatch.setattr(
        model_module, "variational_mask", lambda like, p: drawn.append(real_mask(like, p)) or drawn[-1]
    )
    torch.manual_seed(0)
    model = LSTMLanguageModel(30, 8, layers=2, dropout=0.5, mask_sharing="per_layer")
    model.train()
    tokens = torch.randint(0, 30, (4, 9))
    model(tokens)
    assert len(drawn) == 3
    first_mask = layer_calls[0][1]
    # layer 2's input is zero exactly on the units layer 1's recurrent mask drops, at every step
    dropped = (first_mask == 0).unsqueeze(1).expand(-1, 9, -1)
    layer2_input = layer_calls[1][0]
    assert torch.all(layer2_input[dropped] == 0)
    assert torch.all(layer2_input[~dropped] != 0)
    # the default draws its own masks for the next layer's input and the output (5 for 2 layers)
    drawn.clear()
    LSTMLanguageModel(30, 8, layers=2, dropout=0.5).train()(tokens)
    assert len(drawn) == 5


def test_input_dropout_zero_leaves_the_embedded_input_unmasked(layer_calls):
    """input_dropout=0: the first layer sees the word vectors themselves (the paper's "no dropout on
    the input embedding" read literally), while the other masks are still drawn; the default
    (None) masks the embedded input at ``dropout``, and other values are checked."""
    seen = layer_calls
    tokens = torch.randint(0, 30, (4, 9))
    for sharing in ("separate", "per_layer"):
        seen.clear()
        model = LSTMLanguageModel(30, 8, layers=2, dropout=0.5, input_dropout=0.0, mask_sharing=sharing).train()
        model(tokens)
        assert torch.equal(seen[0][0], model.embedding(tokens).detach())
        assert all(h_mask is not None and (h_mask == 0).any() for _, h_mask in seen)
    seen.clear()
    default = LSTMLanguageModel(30, 8, layers=2, dropout=0.5).train()
    default(tokens)
    assert (seen[0][0] == 0).any() and not torch.equal(seen[0][0], default.embedding(tokens).detach())
    with pytest.raises(ValueError, match="input_dropout"):
        LSTMLanguageModel(10, 4, input_dropout=1.0)


def test_mask_sharing_is_checked():
    with pytest.raises(ValueError, match="mask_sharing"):
        LSTMLanguageModel(10, 4, mask_sharing="per_time_step")


def test_augmented_loss_on_a_5_word_vocabulary():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.5, -0.5]])
    logits = torch.tensor([[[0.2, -0.1, 0.4, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]]])
    targets = torch.tensor([[2, 0]])
    tau = 2.0
    expected = 0.0
    for t, y in enumerate([2, 0]):
        sims = [sum(a * b for a, b in zip(emb[y].tolist(), emb[j].tolist())) / tau for j in range(5)]
        z = sum(math.exp(s) for s in sims)
        q = [math.exp(s) / z for s in sims]
        zl = sum(math.exp(v / tau) for v in logits[0, t].tolist())
        p = [math.exp(v / tau) / zl for v in logits[0, t].tolist()]
        expected += sum(qi * math.log(qi / pi) for qi, pi in zip(q, p)) / 2
    assert augmented_loss(logits, targets, emb, tau).item() == pytest.approx(expected, rel=1e-5)
    # zero where the model's distribution equals the target distribution (up to a constant shift)
    matched = (emb[targets] @ emb.t()) + 3.0
    assert augmented_loss(matched, targets, emb, tau).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        augmented_loss(logits, targets, emb, 0.0)


def test_augmented_loss_per_distinct_word_equals_the_per_token_kl_with_its_gradient():
    # repeated target words (computed once per distinct word) and tau 1 (the log-softmax reused
    # from the cross-entropy) give the value and gradient of the plain per-token KL
    torch.manual_seed(0)
    emb = torch.randn(12, 4)
    targets = torch.tensor([[3, 3, 7, 0, 3], [7, 11, 0, 0, 3]])
    for tau in (1.0, 2.5):
        logits = torch.randn(2, 5, 12, requires_grad=True)
        log_target = F.log_softmax(emb[targets.reshape(-1)] @ emb.t() / tau, dim=-1)

        def naive_kl():
            log_pred = F.log_softmax(logits.reshape(-1, 12) / tau, dim=-1)
            return (log_target.exp() * (log_target - log_pred)).sum(-1).mean()

        naive = naive_kl()
        (naive_grad,) = torch.autograd.grad(naive, logits)
        fast = augmented_loss(logits, targets, emb, tau)
        (fast_grad,) = torch.autograd.grad(fast, logits)
        assert fast.item() == pytest.approx(naive.item(), rel=1e-5)
        assert torch.allclose(fast_grad, naive_grad, atol=1e-6)
        ce = F.cross_entropy(logits.reshape(-1, 12), targets.reshape(-1))
        total, ce_out = language_model_loss(logits, targets, emb, AugmentedLoss(beta=0.3, tau=tau))
        (total_grad,) = torch.autograd.grad(total, logits)
        (expected_grad,) = torch.autograd.grad(0.7 * ce + 0.3 * tau**2 * naive_kl(), logits)
        assert ce_out.item() == pytest.approx(ce.item(), rel=1e-6)
        assert torch.allclose(total_grad, expected_grad, atol=1e-6)


def test_skipped_target_words_get_the_whole_cross_entropy_and_no_augmented_loss():
    # 5-word vocabulary, word 2 skipped: J_aug is the KL of the two tokens whose target is 0 or 4,
    # summed and divided by all four tokens; at tau 1 the gradient on each token's logits is
    # (p - target) / 4 with target the one-hot label where word 2 comes next, and
    # (1 - beta) one-hot + beta y~ elsewhere
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.5, -0.5]])
    targets = torch.tensor([[2, 0, 2, 4]])
    logits = torch.tensor([[[0.2, -0.1, 0.4, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.5, -0.5, 0.3, 0.1], [0.3, 0.3, 0.0, -1.0, 0.2]]], requires_grad=True)
    skip, beta = torch.tensor([2]), 0.3

    def y_tilde(word):
        sims = [math.exp(sum(a * b for a, b in zip(emb[word].tolist(), emb[j].tolist()))) for j in range(5)]
        return [v / sum(sims) for v in sims]

    def softmax(row):
        z = sum(math.exp(v) for v in row)
        return [math.exp(v) / z for v in row]

    expected = 0.0
    for t in (1, 3):
        q, p = y_tilde(targets[0, t].item()), softmax(logits[0, t].tolist())
        expected += sum(qi * math.log(qi / pi) for qi, pi in zip(q, p)) / 4
    assert augmented_loss(logits, targets, emb, 1.0, skip=skip).item() == pytest.approx(expected, rel=1e-5)
    al = AugmentedLoss(beta=beta, tau=1.0, skip_words=("w2",))
    total, ce = language_model_loss(logits, targets, emb, al, skip)
    assert ce.item() == pytest.approx(F.cross_entropy(logits[0], targets[0]).item(), rel=1e-6)
    (grad,) = torch.autograd.grad(total, logits)
    for t in range(4):
        word = targets[0, t].item()
        onehot = [float(j == word) for j in range(5)]
        soft = onehot if word == 2 else [(1 - beta) * o + beta * q for o, q in zip(onehot, y_tilde(word))]
        hand = [(p - s) / 4 for p, s in zip(softmax(logits[0, t].tolist()), soft)]
        assert grad[0, t].tolist() == pytest.approx(hand, abs=1e-6)
    # no words skipped is the unskipped loss
    plain, _ = language_model_loss(logits, targets, emb, AugmentedLoss(beta=beta, tau=1.0))
    none = torch.tensor([], dtype=torch.long)
    assert language_model_loss(logits, targets, emb, AugmentedLoss(beta=beta), none)[0].item() == pytest.approx(plain.item())
    # the words become ids through the vocabulary; an unknown word or a bad list is named
    assert al.skip_ids(["w0", "w1", "w2", "w3", "w4"]) == [2]
    with pytest.raises(ParameterError, match=r"\['w9'\] are not in the vocabulary"):
        AugmentedLoss(beta=beta, skip_words=("w2", "w9")).skip_ids(["w0", "w1", "w2"])
    assert AugmentedLoss.from_params({"beta": 0.3, "tau": 1.0, "skip_words": ["<unk>"]}, "b").skip_words == ("<unk>",)
    for bad in ("<unk>", [""], ["a", "a"], [1], [["a"]]):
        with pytest.raises(ParameterError, match="b: skip_words must be a list of distinct words"):
            AugmentedLoss.from_params({"beta": 0.3, "tau": 1.0, "skip_words": bad}, "b")


def test_an_untempered_prediction_makes_the_augmented_loss_a_smoothing_of_the_label_towards_similar_words():
    # tempered_prediction false, scale beta: (1 - beta) J + beta KL(y~_tau || softmax(logits)), whose
    # gradient on each token's logits is (p - ((1 - beta) one-hot + beta y~_tau)) / tokens
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.5, -0.5]])
    targets = torch.tensor([[2, 0, 4]])
    logits = torch.tensor([[[0.2, -0.1, 0.4, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0],
                            [0.3, 0.3, 0.0, -1.0, 0.2]]], requires_grad=True)
    beta, tau = 0.4, 2.0

    def softmax(row):
        z = sum(math.exp(v) for v in row)
        return [math.exp(v) / z for v in row]

    def y_tilde(word):
        return softmax([sum(a * b for a, b in zip(emb[word].tolist(), emb[j].tolist())) / tau for j in range(5)])

    expected = 0.0
    for t in range(3):
        q, p = y_tilde(targets[0, t].item()), softmax(logits[0, t].tolist())
        expected += sum(qi * math.log(qi / pi) for qi, pi in zip(q, p)) / 3
    got = augmented_loss(logits, targets, emb, tau, tempered_prediction=False)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # the tempered loss is another number: the switch does something
    assert augmented_loss(logits, targets, emb, tau).item() != pytest.approx(expected, rel=1e-3)
    al = AugmentedLoss.from_params({"beta": beta, "tau": tau, "scale": "beta", "tempered_prediction": False}, "b")
    assert augmented_loss_weight(beta, tau, 5, "beta") == beta
    total, ce = language_model_loss(logits, targets, emb, al)
    assert total.item() == pytest.approx((1 - beta) * ce.item() + beta * expected, rel=1e-5)
    (grad,) = torch.autograd.grad(total, logits)
    for t in range(3):
        word = targets[0, t].item()
        soft = [(1 - beta) * float(j == word) + beta * q for j, q in enumerate(y_tilde(word))]
        hand = [(p - s) / 3 for p, s in zip(softmax(logits[0, t].tolist()), soft)]
        assert grad[0, t].tolist() == pytest.approx(hand, abs=1e-6)
    with pytest.raises(ParameterError, match="b: tempered_prediction must be true or false"):
        AugmentedLoss.from_params({"beta": beta, "tau": tau, "tempered_prediction": "no"}, "b")


def test_an_untempered_prediction_with_a_tau_squared_weight_is_warned_of():
    # the tau^2 factor belongs to a tempered prediction; untempered it makes the weight beta tau^2
    with pytest.warns(UserWarning, match="with tempered_prediction false use scale beta"):
        AugmentedLoss.from_params({"beta": 0.3, "tau": 3.0, "tempered_prediction": False}, "b")
    with pytest.warns(UserWarning, match=r"beta tau\^2 \|V\|"):
        AugmentedLoss.from_params({"beta": 0.3, "tau": 3.0, "scale": "tau2_vocab", "tempered_prediction": False}, "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AugmentedLoss.from_params({"beta": 0.3, "tau": 3.0, "scale": "beta", "tempered_prediction": False}, "b")
        AugmentedLoss.from_params({"beta": 0.3, "tau": 3.0}, "b")  # tempered, tau2: the paper's
        AugmentedLoss.from_params({"beta": 0.3, "tau": 1.0, "tempered_prediction": False}, "b")  # tau 1: no factor
        AugmentedLoss(beta=0.0, tau=3.0, tempered_prediction=False)  # beta 0: no augmented loss


def test_augmented_loss_gradient_through_its_target_is_a_switch():
    # target_grad=False: y~ is a constant, the embedding gets no gradient from J_aug;
    # target_grad=True: the same value, and the embedding's gradient is that of the per-token KL
    # with y~ = softmax(L u / tau) differentiated too (u = L[target] and L both)
    torch.manual_seed(2)
    targets = torch.tensor([[1, 4, 1, 0], [2, 2, 4, 1]])
    logits = torch.randn(2, 4, 6)
    tau = 1.5
    emb = torch.randn(6, 3, requires_grad=True)
    off = augmented_loss(logits, targets, emb, tau)
    assert not off.requires_grad
    on = augmented_loss(logits, targets, emb, tau, target_grad=True)
    assert on.item() == pytest.approx(off.item(), rel=1e-6)
    (grad,) = torch.autograd.grad(on, emb)
    log_target = F.log_softmax(emb[targets.reshape(-1)] @ emb.t() / tau, dim=-1)
    log_pred = F.log_softmax(logits.reshape(-1, 6) / tau, dim=-1)
    naive = (log_target.exp() * (log_target - log_pred)).sum(-1).mean()
    (naive_grad,) = torch.autograd.grad(naive, emb)
    assert grad.abs().sum() > 0 and torch.allclose(grad, naive_grad, atol=1e-6)
    # through the total loss too, and not at all under no_grad (evaluation)
    total, _ = language_model_loss(logits, targets, emb, AugmentedLoss(beta=0.2, tau=tau, target_grad=True))
    (total_grad,) = torch.autograd.grad(total, emb)
    assert torch.allclose(total_grad, 0.2 * tau**2 * naive_grad, atol=1e-6)
    with torch.no_grad():
        assert not augmented_loss(logits, targets, emb, tau, target_grad=True).requires_grad


def test_the_paper_s_vocabulary_scaled_augmented_loss_tends_to_a_squared_error_on_the_logits():
    # Eq. 6.1's weight beta tau^2 |V|: at high tau, tau^2 |V| KL(softmax(z/tau) || softmax(o/tau))
    # -> 1/2 ||(o - mean o) - (z - mean z)||^2 with z = L u, the target word's similarity scores
    torch.manual_seed(1)
    vocab = 50
    emb = torch.randn(vocab, 6)
    targets = torch.tensor([[4, 9, 4]])
    logits = torch.randn(1, 3, vocab)
    z = emb[targets] @ emb.t()
    centred = lambda v: v - v.mean(-1, keepdim=True)  # noqa: E731
    squared_error = 0.5 * ((centred(logits) - centred(z)) ** 2).sum(-1).mean()
    tau = 1000.0
    w = augmented_loss_weight(1.0, tau, vocab, "tau2_vocab")
    assert w == pytest.approx(tau**2 * vocab)
    assert (w * augmented_loss(logits, targets, emb, tau)).item() == pytest.approx(squared_error.item(), rel=1e-2)
    # the default scale is |V| times smaller; beta = 0 switches either off; unknown scales fail
    assert augmented_loss_weight(0.3, 2.0, vocab) == pytest.approx(0.3 * 4.0)
    assert augmented_loss_weight(0.0, tau, vocab, "tau2_vocab") == 0.0
    with pytest.raises(ValueError, match="scale"):
        augmented_loss_weight(0.1, 1.0, vocab, "vocab")
    total, ce = language_model_loss(logits, targets, emb, AugmentedLoss(beta=0.01, tau=tau, scale="tau2_vocab"))
    assert total.item() == pytest.approx(0.99 * ce.item() + 0.01 * squared_error.item(), rel=1e-2)


def test_augmented_target_stats_hand_computed_and_limits():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tau = 0.5
    entropies, selfs = [], []
    for y in range(3):
        sims = [float(emb[y] @ emb[j]) / tau for j in range(3)]
        z = sum(math.exp(s) for s in sims)
        q = [math.exp(s) / z for s in sims]
        entropies.append(-sum(qi * math.log(qi) for qi in q))
        selfs.append(q[y])
    for chunk in (1, 2, 1000):  # chunking does not change the result
        stats = augmented_target_stats(emb, tau, chunk=chunk)
        assert stats["entropy"] == pytest.approx(sum(entropies) / 3, rel=1e-5)
        assert stats["self_prob"] == pytest.approx(sum(selfs) / 3, rel=1e-5)
        assert stats["entropy_fraction_of_uniform"] == pytest.approx(sum(entropies) / 3 / math.log(3), rel=1e-5)
    # all-zero embeddings: a uniform target, whatever the temperature
    flat = augmented_target_stats(torch.zeros(50, 4), 10.0)
    assert flat["entropy_fraction_of_uniform"] == pytest.approx(1.0) and flat["self_prob"] == pytest.approx(1 / 50)
    # far-apart orthogonal embeddings at a low temperature: the target is the word itself
    sharp = augmented_target_stats(10.0 * torch.eye(6), 1.0)
    assert sharp["self_prob"] > 0.999 and sharp["entropy"] < 0.01
    with pytest.raises(ValueError):
        augmented_target_stats(emb, 0.0)


def test_total_loss_mixes_cross_entropy_and_augmented_loss():
    emb = torch.randn(5, 3)
    logits, targets = torch.randn(1, 4, 5), torch.randint(0, 5, (1, 4))
    ce = F.cross_entropy(logits.view(-1, 5), targets.view(-1))
    total, ce_out = language_model_loss(logits, targets, emb)
    assert torch.equal(total, ce) and torch.equal(ce_out, ce)
    total, _ = language_model_loss(logits, targets, emb, AugmentedLoss(beta=0.25, tau=3.0))
    assert total.item() == pytest.approx((0.75 * ce + 0.25 * 9 * augmented_loss(logits, targets, emb, 3.0)).item(), rel=1e-6)
    # bad settings fail on construction, named; from a parameter block as a ParameterError
    for bad, match in (({"beta": 1.5}, "beta"), ({"tau": 0.0}, "temperature"), ({"scale": "vocab"}, "scale"),
                       ({"target_grad": "yes"}, "target_grad"), ({"start_epoch": 0}, "start_epoch"),
                       ({"start_epoch": 2.5}, "start_epoch"), ({"start_epoch": True}, "start_epoch")):
        with pytest.raises(ValueError, match=match):
            AugmentedLoss(**bad)
        with pytest.raises(ParameterError, match=f"block: .*{match}"):
            AugmentedLoss.from_params({"beta": 0.1, "tau": 1.0, **bad}, "block")
    with pytest.raises(ParameterError, match="betta"):
        AugmentedLoss.from_params({"betta": 0.1, "tau": 1.0}, "block")
    assert AugmentedLoss.from_params({"beta": 0.1, "tau": 2.0}, "block") == AugmentedLoss(0.1, 2.0, "tau2", False, 1)
    # a late start: beta 0 before start_epoch, the settings themselves from it on
    late = AugmentedLoss.from_params({"beta": 0.3, "tau": 1.0, "start_epoch": 3}, "block")
    assert [late.at_epoch(e).beta for e in (1, 2, 3, 4)] == [0.0, 0.0, 0.3, 0.3]
    assert late.at_epoch(3) is late and late.at_epoch(1) == AugmentedLoss(0.0, 1.0, "tau2", False, 3)


def test_model_rejects_bad_sizes():
    with pytest.raises(ValueError):
        LSTMLanguageModel(10, 4, dropout=1.0)
    with pytest.raises(ValueError):
        LSTMLanguageModel(10, 0)


def test_after_epoch_schedule():
    schedule = {"type": "after_epoch", "start_epoch": 3, "rate": 0.5}
    assert [learning_rate(schedule, 1.0, e) for e in (1, 2, 3, 4)] == [1.0, 1.0, 0.5, 0.25]


def _toy_corpus(n=3000, vocab=12, seed=0):
    rng = np.random.default_rng(seed)
    # a deterministic cycle plus noise: learnable, so perplexity must fall well below |V|
    stream = (np.arange(n) % vocab + (rng.random(n) < 0.1) * rng.integers(0, vocab, n)) % vocab
    return {"vocab": [str(i) for i in range(vocab)], "train": stream, "valid": stream[:600], "test": stream[600:1200]}


# plain SGD from Zaremba's small uniform init needs a large rate to learn in a few hundred steps
# (the gradient is of the loss summed over the 10 steps of a window: lr 2 is 20 per token-mean)
CFG = {"batch_size": 8, "bptt": 10, "lr": 2.0, "epochs": 6, "clip_norm": 5.0, "eval_batch_size": 4,
       "lr_decay": {"type": "after_epoch", "start_epoch": 5, "rate": 0.5}}


def test_training_learns_a_toy_sequence_and_records_history():
    torch.manual_seed(0)
    corpus = _toy_corpus()
    model = LSTMLanguageModel(12, 16, dropout=0.1)
    before = evaluate(model, corpus["valid"], 4, 10, torch.device("cpu"))
    al = AugmentedObjective(AugmentedLoss(beta=0.3, tau=2.0, start_epoch=2))
    state, history, _ = train_language_model(model, corpus, CFG, torch.device("cpu"), al)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert [h["lr"] for h in history] == [2.0, 2.0, 2.0, 2.0, 1.0, 0.5]
    assert [h["beta"] for h in history] == [0.0, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert all(h["tokens_per_s"] > 0 for h in history)
    best = min(h["valid_ppl"] for h in history)
    assert best < before / 2 and best < 6
    model.load_state_dict(state)
    assert evaluate(model, corpus["valid"], 4, 10, torch.device("cpu")) == pytest.approx(best, rel=0.05)



def test_training_runs_at_the_matmul_precision_it_is_given_and_restores_torch_s(monkeypatch):
    seen = []
    real_loss = CrossEntropy.__call__

    def spy(*args, **kwargs):
        seen.append(torch.get_float32_matmul_precision())
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(CrossEntropy, "__call__", spy)
    before = torch.get_float32_matmul_precision()
    model = LSTMLanguageModel(12, 8)
    train_language_model(model, _toy_corpus(400), {**CFG, "epochs": 1, "matmul_precision": "medium"}, torch.device("cpu"))
    assert seen and set(seen) == {"medium"}
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="matmul_precision"):
        train_language_model(model, _toy_corpus(400), {**CFG, "matmul_precision": "low"}, torch.device("cpu"))


def _same_history(a: list[dict], b: list[dict]) -> bool:
    timing = {"tokens_per_s", "epoch_seconds"}
    return [{k: v for k, v in h.items() if k not in timing} for h in a] == \
        [{k: v for k, v in h.items() if k not in timing} for h in b]


def test_a_run_stopped_after_an_epoch_resumes_to_the_run_in_one_go(tmp_path):
    """The loop saves after every epoch; stopped after epoch 2 (dropout on, so the random state
    matters) and run again, it ends with the weights and history of the uninterrupted run."""
    corpus, cpu = _toy_corpus(), torch.device("cpu")
    cfg, al = {**CFG, "epochs": 4}, AugmentedObjective(AugmentedLoss(beta=0.3, tau=1.0, start_epoch=3))
    torch.manual_seed(0)
    straight, straight_history, run = train_language_model(LSTMLanguageModel(12, 16, dropout=0.3), corpus, cfg, cpu, al)
    assert run["resumed_after_epoch"] is None
    checkpoint = Checkpoints(str(tmp_path)).run("lm", {"cfg": cfg, "seed": 0})
    torch.manual_seed(0)
    with stop_after_save(2):
        train_language_model(LSTMLanguageModel(12, 16, dropout=0.3), corpus, cfg, cpu, al, checkpoint=checkpoint,
                             keep_epochs=[1])
    assert checkpoint.load()["epoch"] == 2 and checkpoint.load_kept(1)["epoch"] == 1
    torch.manual_seed(123)  # another initialisation and random state: the checkpoint replaces both
    resumed, resumed_history, run = train_language_model(LSTMLanguageModel(12, 16, dropout=0.3), corpus, cfg, cpu, al,
                                                         checkpoint=checkpoint)
    assert run["resumed_after_epoch"] == 2
    assert _same_history(resumed_history, straight_history)
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    # finished: a rerun trains nothing and returns the same result
    again, again_history, run = train_language_model(LSTMLanguageModel(12, 16, dropout=0.3), corpus, cfg, cpu, al,
                                                     checkpoint=checkpoint)
    assert run["resumed_after_epoch"] == 4 and again_history == resumed_history
    assert all(torch.equal(again[k], straight[k]) for k in straight)
    # another configuration is refused, naming the key
    with pytest.raises(CheckpointMismatch, match=r"cfg\.epochs"):
        checkpoint.with_identity({"cfg": {**cfg, "epochs": 5}, "seed": 0}).load()


def test_token_losses_are_the_per_token_nll_of_one_long_pass_and_give_evaluate():
    torch.manual_seed(0)
    ids = _toy_corpus(n=203)["valid"][:203]
    model = LSTMLanguageModel(12, 16, dropout=0.3).eval()
    cpu = torch.device("cpu")
    losses = token_losses(model, ids, 1, 10, cpu)
    assert losses.shape == (1, 202)
    # windows of 10 with the state carried read the stream as one pass (dropout off in eval)
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(ids[None, :-1]))
    by_hand = -torch.log_softmax(logits[0], dim=-1)[torch.arange(202), torch.as_tensor(ids[1:])]
    torch.testing.assert_close(losses[0], by_hand, rtol=1e-5, atol=1e-5)
    assert evaluate(model, ids, 1, 10, cpu) == pytest.approx(math.exp(by_hand.double().mean().item()), rel=1e-6)
    assert token_losses(model, ids, 4, 10, cpu).shape == (4, 50 - 1)


def test_plateau_schedule_decays_and_stops():
    torch.manual_seed(0)
    corpus = _toy_corpus()
    model = LSTMLanguageModel(12, 8)
    # (a rate so high that the first epoch is worse than a uniform guess is a divergence instead)
    cfg = {**CFG, "epochs": 30, "lr": 3.0, "lr_decay": {"type": "plateau", "rate": 0.1, "max_decays": 1}}
    _, history, _ = train_language_model(model, corpus, cfg, torch.device("cpu"))
    assert len(history) < 30  # a high rate stalls, the schedule decays once, stalls again, stops
    assert history[0]["lr"] == 3.0 and history[-1]["lr"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="lr_decay.type"):
        train_language_model(model, corpus, {**CFG, "lr_decay": {"type": "cosine"}}, torch.device("cpu"))


def test_a_diverged_epoch_stops_training_with_the_best_weights(monkeypatch):
    """A validation perplexity above DIVERGENCE_FACTOR x the best so far (an SGD blow-up) stops the
    run and says why; a blow-up in the first epoch, with nothing to fall back on, is an error."""
    from iclr17.common.lm import train as train_module

    torch.manual_seed(0)
    corpus = _toy_corpus()
    model = LSTMLanguageModel(12, 8)
    valid = iter([30.0, 20.0, 25.0, 20.0 * train_module.DIVERGENCE_FACTOR + 1, 10.0])
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: next(valid))
    _, history, _ = train_language_model(model, corpus, {**CFG, "epochs": 5}, torch.device("cpu"))
    assert [h["valid_ppl"] for h in history] == [30.0, 20.0, 25.0]  # the diverged epoch 4 is not kept
    assert "diverged in epoch 4" in history[-1]["stopped"] and "stopped" not in history[0]
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: float("inf"))
    with pytest.raises(FloatingPointError, match="diverged in epoch 1"):
        train_language_model(LSTMLanguageModel(12, 8), corpus, CFG, torch.device("cpu"))
    # so is a finite first epoch far worse than a uniform guess over the 12 words (seen: 1e19)
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: 12.0 * train_module.DIVERGENCE_FACTOR + 1)
    with pytest.raises(FloatingPointError, match="diverged in epoch 1.*against the best 12"):
        train_language_model(LSTMLanguageModel(12, 8), corpus, CFG, torch.device("cpu"))
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: 12.0 * train_module.DIVERGENCE_FACTOR - 1)
    assert len(train_language_model(LSTMLanguageModel(12, 8), corpus, CFG, torch.device("cpu"))[1]) == CFG["epochs"]
    # the plateau schedule rolls back and decays instead of stopping
    valid = iter([30.0, 200.0, 25.0])
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: next(valid))
    plateau = {**CFG, "epochs": 3, "lr_decay": {"type": "plateau", "rate": 0.5, "max_decays": 3}}
    _, history, _ = train_language_model(LSTMLanguageModel(12, 8), corpus, plateau, torch.device("cpu"))
    assert [h["lr"] for h in history] == [2.0, 2.0, 1.0] and not any("stopped" in h for h in history)


def test_switching_the_schedule_type_keeps_the_other_types_key_ignored():
    """A plateau block overridden to ``type=after_epoch, start_epoch=2`` keeps its ``max_decays``:
    tolerated and ignored; a key of neither type, or a missing one, is still an error."""
    torch.manual_seed(0)
    corpus = _toy_corpus()
    model = LSTMLanguageModel(12, 8)
    switched = {"type": "after_epoch", "rate": 0.5, "max_decays": 8, "start_epoch": 2}
    _, history, _ = train_language_model(model, corpus, {**CFG, "epochs": 3, "lr_decay": switched}, torch.device("cpu"))
    assert [h["lr"] for h in history] == [2.0, 1.0, 0.5]
    with pytest.raises(ParameterError, match="patience"):
        train_language_model(model, corpus, {**CFG, "lr_decay": {**switched, "patience": 2}}, torch.device("cpu"))
    with pytest.raises(ParameterError, match="start_epoch"):
        train_language_model(model, corpus, {**CFG, "lr_decay": {"type": "after_epoch", "rate": 0.5, "max_decays": 8}}, torch.device("cpu"))
