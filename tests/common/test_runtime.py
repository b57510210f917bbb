import numpy as np
import pytest
import torch

from iclr17.common import runtime
from iclr17.common.runtime import (
    describe_device,
    float32_matmul_precision,
    map_jobs,
    pick_device,
    resolve_workers,
    seed_everything,
)


def _square_and_threads(x):
    return x * x, torch.get_num_threads()


def test_map_jobs_in_worker_processes_keeps_order_and_runs_single_threaded():
    out = map_jobs(_square_and_threads, [(1,), (2,), (3,)], workers=2)
    assert [o[0] for o in out] == [1, 4, 9]
    assert all(o[1] == 1 for o in out)


def test_map_jobs_inline():
    assert map_jobs(_square_and_threads, [(4,)], workers=2)[0][0] == 16


def test_resolve_workers():
    cpu = torch.device("cpu")
    assert resolve_workers("auto", 1, cpu) == 1
    assert resolve_workers(8, 3, cpu) == 3
    assert resolve_workers("auto", 3, torch.device("cuda")) == 1
    with pytest.raises(ValueError):
        resolve_workers(0, 3, cpu)


def test_pick_device_and_seeding():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        pick_device("tpu")
    cpu = torch.device("cpu")
    assert describe_device(cpu).startswith("cpu:") and describe_device(cpu, "highest") == describe_device(cpu)
    assert torch.backends.cpu.get_cpu_capability() in describe_device(cpu)
    assert describe_device(cpu, "high").startswith(describe_device(cpu) + ", float32 matmuls at high precision")
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize(("bf16", "error", "note"), [
    (False, 4e-7, " (plain float32 here: no bfloat16 kernels on this CPU)"),
    (True, 8e-7, ""),  # AVX-512 BF16 without AMX: float32-accurate
    (True, 2.1e-3, " (bfloat16-accurate products on this CPU: 2e-03 of float64)"),  # AMX
])
def test_describe_device_says_what_medium_precision_is_on_this_cpu(monkeypatch, bf16, error, note):
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: bf16)
    monkeypatch.setattr(runtime, "matmul_relative_error", lambda precision: error)
    cpu = torch.device("cpu")
    medium = describe_device(cpu) + ", float32 matmuls at medium precision"
    assert describe_device(cpu, "medium") == medium + note


def test_matmul_relative_error_is_float32s_at_highest_and_restores_the_precision():
    before = torch.get_float32_matmul_precision()
    assert 0 < runtime.matmul_relative_error("highest") < runtime.FLOAT32_PRODUCT_ERROR
    medium = runtime.matmul_relative_error("medium")
    assert 0 < medium < 1e-2  # float32 (4e-7), or bfloat16 (2e-3) on a CPU with AMX
    if not runtime.cpu_has_bfloat16():
        assert medium < runtime.FLOAT32_PRODUCT_ERROR  # no bfloat16 kernels: medium is float32
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError):
        runtime.matmul_relative_error("low")


def test_cpu_has_bfloat16_is_false_without_avx512_and_without_onednn(monkeypatch):
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT", "NO AVX"):
        assert runtime.cpu_has_bfloat16() is False  # bfloat16 kernels need AVX-512 BF16 or AMX
    def missing():
        raise RuntimeError("no oneDNN in this torch build")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing)
    assert runtime.cpu_has_bfloat16() is False


def test_float32_matmul_precision_holds_inside_the_block_only_and_is_checked():
    before = torch.get_float32_matmul_precision()
    with float32_matmul_precision("medium"):
        assert torch.get_float32_matmul_precision() == "medium"
        a, b = torch.randn(64, 32, dtype=torch.float64), torch.randn(32, 48, dtype=torch.float64)
        # whatever kernel "medium" picks (float32, or bfloat16 on a CPU with AMX: about 2e-3 of the
        # largest entry), the product stays close to float64's
        error = ((a.float() @ b.float()).double() - a @ b).abs().max() / (a @ b).abs().max()
        assert error < 1e-2
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError), float32_matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
        raise RuntimeError("restored on the way out too")
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="matmul_precision must be one of"), float32_matmul_precision("bf16"):
        pass


def _tensor_and_its_view(n: int) -> dict:
    t = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4) + 1e-3
    return {"w": t, "view": t.numpy(), "nested": [t[0]]}


def test_a_worker_returns_copies_never_views_of_its_tensors():
    """Spawned workers returning a tensor and a numpy view of it: the view must arrive intact
    (torch's pickler moves the tensor's storage to shared memory, leaving a raw view dangling)."""
    from iclr17.common.runtime import map_jobs, owned

    out = map_jobs(_tensor_and_its_view, [(64,), (64,)], workers=2)
    expected = np.arange(256, dtype=np.float32).reshape(64, 4) + 1e-3
    for result in out:
        assert np.array_equal(result["view"], expected)
        assert torch.equal(result["w"], torch.from_numpy(expected)) and torch.equal(result["nested"][0], result["w"][0])
    base = torch.ones(3)
    copied = owned({"a": base, "b": base.numpy(), "c": (base,)})
    base += 1
    assert copied["a"].tolist() == copied["b"].tolist() == copied["c"][0].tolist() == [1.0, 1.0, 1.0]
