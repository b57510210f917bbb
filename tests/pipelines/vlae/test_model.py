import math

import numpy as np
import pytest
import torch

from iclr17.pipelines.vlae.model import (
    VLAE,
    PixelCNNDecoder,
    WNConv2d,
    af_prior,
    data_dependent_init,
    free_bits_kl,
    gaussian_log_prob,
    importance_sampled_nll,
)


@pytest.mark.parametrize("tied", [True, False])
def test_decoder_logit_of_pixel_i_ignores_pixels_i_and_after(tied):
    torch.manual_seed(0)
    dec = PixelCNNDecoder(channels=8, layers=2, first_kernel=5, tied=tied, conditional=False)
    size = 8
    for i in (0, 13, 27, 63):
        x = torch.rand(1, 1, size, size, requires_grad=True)
        dec(x, None).flatten()[i].backward()
        grad = x.grad.flatten()
        assert (grad[i:] == 0).all()
        if i > 0:
            assert grad[:i].abs().sum() > 0  # it does read some earlier pixel


def test_tied_masked_convolutions_share_one_weight_direction():
    tied, untied = PixelCNNDecoder(8, 3, tied=True), PixelCNNDecoder(8, 3, tied=False)
    assert len({id(c.v) for c in tied.masked}) == 1 and len({id(c.v) for c in untied.masked}) == 3
    assert sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in untied.parameters())


def test_receptive_field_grows_with_the_masked_layers():
    small, large = PixelCNNDecoder(8, 1, 3, conditional=False), PixelCNNDecoder(8, 3, 5, conditional=False)
    # 3x3 mask A then 3x3 mask B: 5 pixels two rows up, 4 one row up (the blind spot), 2 to the left
    assert small.receptive_field(16) == 5 + 4 + 2
    assert large.receptive_field(16) > small.receptive_field(16)


def test_mask_rejects_an_unknown_type():
    with pytest.raises(ValueError, match="mask must be"):
        WNConv2d(1, 4, 3, mask="C")


def test_each_flow_step_is_autoregressive_and_the_flow_log_det_matches_autograd():
    torch.manual_seed(0)
    flow = af_prior(latent=5, steps=2, hidden=16)
    with torch.no_grad():  # non-trivial shifts
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    z = torch.randn(5)
    for i, step in enumerate(flow.transform.transforms):
        jac = torch.autograd.functional.jacobian(lambda v, s=step: s(None)(v), z)
        order = torch.arange(5) if i % 2 == 0 else torch.arange(5).flip(0)
        rank = torch.empty(5, dtype=torch.long)
        rank[order] = torch.arange(5)
        # output j depends on input k only where k comes before j in the step's order (or is j)
        allowed = rank[None, :] <= rank[:, None]
        assert (jac[~allowed] == 0).all()
    t = flow().transform
    jac = torch.autograd.functional.jacobian(lambda v: t(v), z)
    exact = flow().base.log_prob(t(z)) + torch.linalg.slogdet(jac)[1]
    assert torch.allclose(flow().log_prob(z), exact, atol=1e-5)
    assert abs(torch.linalg.slogdet(jac)[1].item()) < 1e-5  # mean-only: volume preserving


def test_gaussian_log_prob_known_value():
    z = torch.tensor([[0.0, 1.0]])
    assert math.isclose(gaussian_log_prob(z).item(), -math.log(2 * math.pi) - 0.5, rel_tol=1e-6)


def test_free_bits_clamp_the_batch_kl_from_below():
    kl = torch.tensor([1.0, 3.0], requires_grad=True)
    low = free_bits_kl(kl, 7.84)
    assert low.item() == pytest.approx(7.84)
    low.backward()
    assert (kl.grad == 0).all()  # below the floor nothing pushes the KL down
    assert free_bits_kl(torch.tensor([10.0, 12.0]), 7.84).item() == pytest.approx(11.0)


class _ToyModel:
    """Three binary pixels, z ~ N(0, 1), p(x_d = 1 | z) = sigmoid(w_d z + b_d), proposal N(m, s)."""

    w, b, m, s = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.3, 0.0, -0.7]), 0.2, 1.3
    latent = 1

    def terms(self, x, samples):
        z = self.m + self.s * torch.randn(samples, len(x), 1)
        logits = z * self.w + self.b
        rec = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        kl = gaussian_log_prob(z, self.m, math.log(self.s)) - gaussian_log_prob(z)
        return rec, kl


def test_importance_sampled_nll_matches_the_enumerated_marginal():
    torch.manual_seed(0)
    toy = _ToyModel()
    xs = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)])
    grid = torch.linspace(-10, 10, 20001)[:, None]  # the 1-d marginal by quadrature
    lik = torch.sigmoid(grid * toy.w + toy.b)
    exact = []
    for x in xs:
        px = (lik * x + (1 - lik) * (1 - x)).prod(1) * torch.exp(gaussian_log_prob(grid))
        exact.append(-torch.log(torch.trapezoid(px, grid[:, 0])))
    exact = torch.stack(exact)
    assert torch.allclose(torch.exp(-exact).sum(), torch.tensor(1.0), atol=1e-4)  # a distribution over 8 images
    got = importance_sampled_nll(toy, xs, samples=20000, chunk=4096)
    assert torch.allclose(got, exact, atol=0.02)
    rec, kl = toy.terms(xs, 20000)
    assert (-(rec - kl).mean(0) > exact + 0.01).all()  # the ELBO is a looser bound


def test_vlae_terms_shapes_and_unconditional_has_no_kl():
    torch.manual_seed(0)
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    for kwargs in ({"prior": "af", "flow_hidden": 32}, {"prior": "gaussian"}, {"latent": 0}):
        m = VLAE(channels=8, enc_blocks=1, dec_layers=1, **kwargs)
        rec, kl = m.terms(x, samples=2)
        assert rec.shape == kl.shape == (2, 3) and (rec < 0).all()
        if kwargs.get("latent") == 0:
            assert (kl == 0).all()
    with pytest.raises(ValueError, match="prior must be"):
        VLAE(prior="iaf-ish")


def test_data_dependent_init_gives_unit_scale_outputs():
    torch.manual_seed(0)
    m = VLAE(channels=8, enc_blocks=1, dec_layers=1, prior="gaussian")
    x = (torch.rand(16, 1, 28, 28) > 0.5).float()
    data_dependent_init(m, lambda: m.terms(x))
    mean, log_std = m.encoder(x)
    out = torch.cat([mean, log_std], 1)
    assert out.mean(0).abs().max() < 1e-4 and np.allclose(out.std(0).detach().numpy(), 1.0, atol=1e-3)


def test_iaf_posterior_steps_are_autoregressive_and_their_log_det_matches_autograd():
    from iclr17.pipelines.vlae.model import iaf_posterior

    torch.manual_seed(0)
    steps, h = iaf_posterior(latent=4, context=3, steps=2, hidden=16), torch.randn(3)
    z0 = torch.randn(4)
    for i, step in enumerate(steps):
        t = step(h)
        jac = torch.autograd.functional.jacobian(t, z0)
        order = torch.arange(4) if i % 2 == 0 else torch.arange(4).flip(0)
        ranked = jac[order][:, order]  # in the step's own order the Jacobian is lower triangular
        assert torch.allclose(ranked.triu(1), torch.zeros(4, 4))
        _, ladj = t.call_and_ladj(z0)
        assert torch.allclose(ladj, torch.linalg.slogdet(jac)[1], atol=1e-5)


def test_an_iaf_posterior_changes_the_sample_and_its_density():
    torch.manual_seed(0)
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    m = VLAE(latent=4, channels=8, enc_blocks=1, dec_layers=1, prior="gaussian", posterior="iaf", iaf_steps=2,
             flow_hidden=16)
    rec, kl = m.terms(x, samples=2)
    assert rec.shape == kl.shape == (2, 3) and torch.isfinite(kl).all()
    assert m.posterior_mean(x).shape == (3, 4)
    with pytest.raises(ValueError, match="posterior must be"):
        VLAE(posterior="flow")


def test_the_unconditional_pixelcnn_nll_is_its_exact_log_likelihood():
    torch.manual_seed(0)
    m = VLAE(latent=0, channels=8, dec_layers=1).eval()
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    with torch.no_grad():
        exact = -m.log_px_given_z(x, None)
    assert torch.allclose(importance_sampled_nll(m, x, samples=4096), exact)
