"""The Variational Lossy Autoencoder of Chen et al. (ICLR 2017) for 28x28 binary images
(Appendix A): a convolutional VAE encoder, a small-receptive-field PixelCNN decoder (masked
convolutions with 1x1 ResNet blocks between them), and a prior that is a standard Gaussian or
an autoregressive flow (mean-only MADE steps, from zuko).  Every layer is weight-normalised
with a data-dependent initialisation (Salimans & Kingma, 2016)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import zuko
from torch import nn


class WNConv2d(nn.Module):
    """A weight-normalised convolution, ``w = g * (v * mask) / ||v * mask||`` per output channel;
    ``mask`` (``A``: the pixels before the centre in raster order, ``B``: the centre too) makes
    it a PixelCNN masked convolution.  ``shared_v``: use another layer's direction ``v`` (tied
    masked weights); ``g`` and the bias stay this layer's own."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, mask: str | None = None,
                 shared_v: nn.Parameter | None = None, transpose: bool = False):
        super().__init__()
        self.stride, self.padding, self.transpose = stride, kernel // 2, transpose
        shape = (cin, cout, kernel, kernel) if transpose else (cout, cin, kernel, kernel)
        self.v = shared_v if shared_v is not None else nn.Parameter(torch.randn(shape) * 0.05)
        self.g = nn.Parameter(torch.ones(cout))
        self.b = nn.Parameter(torch.zeros(cout))
        m = torch.ones(kernel, kernel)
        if mask is not None:
            if mask not in ("A", "B"):
                raise ValueError(f"mask must be 'A', 'B' or None, got {mask!r}")
            c = kernel // 2
            m[c, c + (mask == "B"):] = 0
            m[c + 1:] = 0
        self.register_buffer("mask", m)

    def weight(self) -> torch.Tensor:
        v = self.v * self.mask
        dims = (0, 2, 3) if self.transpose else (1, 2, 3)
        scale = self.g / v.pow(2).sum(dims).clamp_min(1e-12).sqrt()
        return v * (scale.view(1, -1, 1, 1) if self.transpose else scale.view(-1, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transpose:
            return F.conv_transpose2d(x, self.weight(), self.b, self.stride, self.padding, output_padding=self.stride - 1)
        return F.conv2d(x, self.weight(), self.b, self.stride, self.padding)


class WNLinear(nn.Module):
    """A weight-normalised linear layer."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.v = nn.Parameter(torch.randn(cout, cin) * 0.05)
        self.g = nn.Parameter(torch.ones(cout))
        self.b = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.v * (self.g / self.v.norm(dim=1).clamp_min(1e-12))[:, None], self.b)


@torch.no_grad()
def data_dependent_init(model: nn.Module, run) -> None:
    """Salimans & Kingma's initialisation: run ``run()`` (a forward pass on a first batch) once
    per weight-normalised layer in order, setting that layer's ``g`` and bias so its outputs have
    zero mean and unit variance per channel on that batch."""
    layers = [m for m in model.modules() if isinstance(m, (WNConv2d, WNLinear))]
    for layer in layers:
        seen = {}
        hook = layer.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
        run()
        hook.remove()
        out = seen["out"]
        dims = [d for d in range(out.dim()) if d != 1]
        mean, std = out.mean(dims), out.std(dims).clamp_min(1e-6)
        layer.g.div_(std)
        layer.b.sub_(mean).div_(std)


class ResBlock(nn.Module):
    """A ResNet block of two ``kernel`` x ``kernel`` convolutions: 3x3 in the encoder and the
    latent-to-map network, 1x1 between the decoder's masked convolutions (no wider receptive field)."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.a, self.b = WNConv2d(channels, channels, kernel), WNConv2d(channels, channels, kernel)

    def forward(self, x):
        return x + self.b(F.elu(self.a(F.elu(x))))


class Encoder(nn.Module):
    """q(z|x): 28x28 -> stride-2 convs and ResNet blocks at 14x14 and 7x7 -> mean and log-std of z."""

    def __init__(self, channels: int = 64, latent: int = 64, blocks: int = 2, context: int = 0):
        super().__init__()
        self.sizes = [latent, latent] + ([context] if context else [])
        layers: list[nn.Module] = [WNConv2d(1, channels, 3, stride=2)]
        layers += [ResBlock(channels) for _ in range(blocks)]
        layers += [WNConv2d(channels, channels, 3, stride=2)]
        layers += [ResBlock(channels) for _ in range(blocks)]
        self.net = nn.Sequential(*layers)
        self.out = WNLinear(channels * 49, sum(self.sizes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The mean and log-std of z (and the IAF steps' context ``h`` where ``context`` > 0)."""
        return self.out(F.elu(self.net(2 * x - 1)).flatten(1)).split(self.sizes, 1)


class LatentMap(nn.Module):
    """z -> a 28x28 feature map that conditions every decoder layer (the ResNet VAE decoder)."""

    def __init__(self, latent: int = 64, channels: int = 64, blocks: int = 2):
        super().__init__()
        self.channels = channels
        self.inp = WNLinear(latent, channels * 49)
        layers: list[nn.Module] = [ResBlock(channels) for _ in range(blocks)]
        layers += [WNConv2d(channels, channels, 3, stride=2, transpose=True)]
        layers += [ResBlock(channels) for _ in range(blocks)]
        layers += [WNConv2d(channels, channels, 3, stride=2, transpose=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.elu(self.net(F.elu(self.inp(z)).view(-1, self.channels, 7, 7)))


class PixelCNNDecoder(nn.Module):
    """p(x|z): a mask-A convolution of ``first_kernel``, then ``layers`` x [1x1 ResNet block,
    3x3 mask-B convolution], a 1x1 output; every layer also reads the latent's feature map
    (none for the unconditional decoder).  ``tied``: the mask-B convolutions share one weight
    direction.  The receptive field grows with ``first_kernel`` and ``layers`` only."""

    def __init__(self, channels: int = 64, layers: int = 3, first_kernel: int = 5, tied: bool = True,
                 conditional: bool = True):
        super().__init__()
        self.first = WNConv2d(1, channels, first_kernel, mask="A")
        self.res = nn.ModuleList(ResBlock(channels, 1) for _ in range(layers))
        convs: list[WNConv2d] = []
        for i in range(layers):
            shared = convs[0].v if tied and i > 0 else None
            convs.append(WNConv2d(channels, channels, 3, mask="B", shared_v=shared))
        self.masked = nn.ModuleList(convs)
        self.cond = nn.ModuleList(WNConv2d(channels, channels, 1) for _ in range(layers + 1)) if conditional else None
        self.out = WNConv2d(channels, 1, 1)

    def receptive_field(self, size: int = 28) -> int:
        """How many pixels the logit of the centre pixel of a ``size`` x ``size`` image depends on
        (measured with autograd, the latent's map held at zero)."""
        x = torch.rand(1, 1, size, size, requires_grad=True)
        h = torch.zeros(1, self.first.v.shape[0], size, size) if self.cond is not None else None
        self(x, h)[0, 0, size // 2, size // 2].backward()
        return int((x.grad != 0).sum())

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """Bernoulli logits of every pixel, each a function of the pixels before it (and ``h``)."""
        y = self.first(2 * x - 1)
        if self.cond is not None:
            y = y + self.cond[0](h)
        for i, (res, conv) in enumerate(zip(self.res, self.masked)):
            y = conv(F.elu(res(y)))
            if self.cond is not None:
                y = y + self.cond[i + 1](h)
        return self.out(F.elu(y))


def af_prior(latent: int = 64, steps: int = 4, hidden: int = 640, layers: int = 2) -> zuko.flows.Flow:
    """The autoregressive-flow prior: ``steps`` mean-only (additive) MADE transforms with
    ``layers`` hidden ReLU layers of ``hidden`` units (a 3-layer MADE for 2 hidden layers), the
    order reversed between steps, over a standard Gaussian.  Its density is one parallel pass;
    sampling is sequential."""
    order = torch.arange(latent)
    transforms = [zuko.flows.MaskedAutoregressiveTransform(
        latent, order=order if i % 2 == 0 else order.flip(0), univariate=zuko.transforms.AdditiveTransform,
        shapes=[()], hidden_features=[hidden] * layers, activation=nn.ReLU) for i in range(steps)]
    return zuko.flows.Flow(transforms, zuko.flows.UnconditionalDistribution(
        zuko.distributions.DiagNormal, torch.zeros(latent), torch.ones(latent), buffer=True))


def iaf_posterior(latent: int = 64, context: int = 64, steps: int = 2, hidden: int = 640) -> nn.ModuleList:
    """An inverse autoregressive flow for q(z|x) (Kingma et al., 2016): ``steps`` affine MADE
    transforms, each conditioned on the encoder's context ``h``, the order reversed between
    steps.  zuko's masked transform maps its input to its output in one parallel pass: applied to
    the Gaussian sample it is an IAF step (fast sampling and density of the sample)."""
    order = torch.arange(latent)
    return nn.ModuleList(zuko.flows.MaskedAutoregressiveTransform(
        latent, context, order=order if i % 2 == 0 else order.flip(0), hidden_features=[hidden] * 2,
        activation=nn.ELU) for i in range(steps))


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor | float = 0.0, log_std: torch.Tensor | float = 0.0):
    """Sum over the last dimension of a diagonal Gaussian's log-density."""
    log_std = torch.as_tensor(log_std, dtype=z.dtype)
    return (-0.5 * ((z - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class VLAE(nn.Module):
    """x -> q(z|x) -> z -> p(x|z) with the PixelCNN decoder; ``prior``: ``af`` or ``gaussian``;
    ``posterior``: ``gaussian`` or ``iaf`` (``iaf_steps`` IAF steps on the Gaussian sample);
    ``latent=0``: the unconditional PixelCNN (no encoder, no latent)."""

    def __init__(self, latent: int = 64, channels: int = 64, enc_blocks: int = 2, dec_layers: int = 3,
                 first_kernel: int = 5, tied: bool = True, prior: str = "af", flow_steps: int = 4,
                 flow_hidden: int = 640, posterior: str = "gaussian", iaf_steps: int = 2):
        super().__init__()
        if prior not in ("af", "gaussian"):
            raise ValueError(f"prior must be 'af' or 'gaussian', got {prior!r}")
        if posterior not in ("gaussian", "iaf"):
            raise ValueError(f"posterior must be 'gaussian' or 'iaf', got {posterior!r}")
        self.latent = latent
        self.decoder = PixelCNNDecoder(channels, dec_layers, first_kernel, tied, conditional=latent > 0)
        if latent > 0:
            context = latent if posterior == "iaf" else 0
            self.encoder = Encoder(channels, latent, enc_blocks, context)
            self.latent_map = LatentMap(latent, channels, enc_blocks)
            self.prior = af_prior(latent, flow_steps, flow_hidden) if prior == "af" else None
            self.iaf = iaf_posterior(latent, context, iaf_steps, flow_hidden) if posterior == "iaf" else None

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z) if self.prior is None else self.prior().log_prob(z)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """log p(x|z) summed over pixels (x in {0, 1}, shape (B, 1, 28, 28))."""
        logits = self.decoder(x, self.latent_map(z) if z is not None else None)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    def terms(self, x: torch.Tensor, samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log p(x|z), log q(z|x) - log p(z))`` for ``samples`` draws of z per image, each of
        shape (samples, B); the second is 0 without a latent."""
        if self.latent == 0:
            rec = self.log_px_given_z(x, None)
            return rec.expand(samples, -1), torch.zeros(samples, len(x), device=x.device)
        mean, log_std, *context = self.encoder(x)
        z = mean + log_std.exp() * torch.randn(samples, *mean.shape, device=x.device)
        log_q = gaussian_log_prob(z, mean, log_std)
        flat = z.reshape(-1, self.latent)
        if self.iaf is not None:
            h = context[0].expand(samples, *context[0].shape).reshape(flat.shape)
            for step in self.iaf:
                flat, ladj = step(h).call_and_ladj(flat)
                log_q = log_q - ladj.view(samples, -1)
        xs = x.expand(samples, *x.shape).reshape(-1, *x.shape[1:])
        rec = self.log_px_given_z(xs, flat).view(samples, -1)
        return rec, log_q - self.prior_log_prob(flat).view(samples, -1)

    def posterior_mean(self, x: torch.Tensor) -> torch.Tensor:
        """A point code for reconstructions: the Gaussian's mean (through the IAF steps where
        there are some)."""
        mean, _, *context = self.encoder(x)
        for step in self.iaf if self.iaf is not None else ():
            mean = step(context[0])(mean)
        return mean


def free_bits_kl(kl: torch.Tensor, floor: float) -> torch.Tensor:
    """The KL term of the training objective with free bits: the batch-mean KL, not pushed
    below ``floor`` nats (below it, no gradient asks the latent to carry less)."""
    return kl.mean().clamp_min(floor)


def importance_sampled_nll(model: VLAE, x: torch.Tensor, samples: int, chunk: int = 256) -> torch.Tensor:
    """-log p(x) per image by importance sampling with q(z|x) as proposal (``samples`` draws,
    ``chunk`` at a time): -logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] + log K."""
    parts = []
    with torch.no_grad():
        if model.latent == 0:  # no latent: log p(x) is exact, one pass
            return -model.terms(x, 1)[0][0]
        for s in range(0, samples, chunk):
            rec, kl = model.terms(x, min(chunk, samples - s))
            parts.append(rec - kl)
    return -(torch.logsumexp(torch.cat(parts), 0) - math.log(samples))
