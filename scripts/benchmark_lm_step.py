"""Training throughput of the shared PTB language model (``iclr17.common.lm``) on this machine:
one SGD step (forward, loss, backward, clipping, update) on a random batch of the papers' shape,
for the small tying variants, in tokens per second.  A benchmark, not a test.

    python scripts/benchmark_lm_step.py [THREADS] [STEPS] [PRECISION]

THREADS (default 1) is ``torch.set_num_threads``; STEPS (default 30) timed steps after 5 warm-up
steps, per variant; PRECISION (default highest) is ``torch.set_float32_matmul_precision``, the
training parameter ``matmul_precision``.  The model is the small default's (200 units, 2 layers, dropout 0.2, 10,000
words, batch 20 x 35); +AL / +REAL use beta 0.1, tau 1.
"""

import sys
import time

import torch

from iclr17.common.lm.model import LSTMLanguageModel
from iclr17.pipelines.tying.augmented_loss import AugmentedLoss, language_model_loss

VARIANTS = {"baseline": (False, 0.0), "al": (False, 0.1), "re": (True, 0.0), "real": (True, 0.1)}


def tokens_per_second(tie: bool, beta: float, steps: int, batch: int = 20, bptt: int = 35) -> float:
    torch.manual_seed(0)
    model = LSTMLanguageModel(10_000, 200, layers=2, dropout=0.2, tie=tie)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    al = {"al": AugmentedLoss(beta=beta, tau=1.0)}
    x, y = torch.randint(0, 10_000, (batch, bptt)), torch.randint(0, 10_000, (batch, bptt))

    def step():
        logits, _ = model(x)
        loss, _ = language_model_loss(logits, y, model.embedding.weight, **al)
        optimizer.zero_grad(set_to_none=True)
        (loss * bptt).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * bptt / (time.perf_counter() - start)


def output_layer_error() -> float:
    """The largest relative error, against float64, of the three float32 products of the output
    layer's shapes (forward, gradient of the input, gradient of the weight) at the current precision."""
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for m, k, n in ((700, 200, 10_000), (700, 10_000, 200), (10_000, 700, 200)):
        a = torch.randn(m, k, dtype=torch.float64, generator=g)
        b = torch.randn(k, n, dtype=torch.float64, generator=g)
        exact = a @ b
        worst = max(worst, ((a.float() @ b.float()).double() - exact).abs().max().item() / exact.abs().max().item())
    return worst


if __name__ == "__main__":
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    precision = sys.argv[3] if len(sys.argv) > 3 else "highest"
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision(precision)
    for name, (tie, beta) in VARIANTS.items():
        print(f"{name:8s} {tokens_per_second(tie, beta, steps):8.0f} tokens/s  ({threads} thread(s), "
              f"matmul precision {precision}, torch {torch.__version__})")
    print(f"output-layer products: largest error {output_layer_error():.1e} of the largest entry (float64 reference)")
