import pytest
import torch

from iclr17.common import runtime
from iclr17.common.runtime import describe_device, float32_matmul_precision, map_jobs, pick_device, resolve_workers, seed_everything


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
    assert describe_device(cpu, "high") == describe_device(cpu) + ", float32 matmuls at high precision"
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("bf16", [True, False])
def test_describe_device_says_when_medium_precision_is_plain_float32_on_this_cpu(monkeypatch, bf16):
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: bf16)
    cpu = torch.device("cpu")
    medium = describe_device(cpu) + ", float32 matmuls at medium precision"
    assert describe_device(cpu, "medium") == medium + ("" if bf16 else " (plain float32 here: no bfloat16 kernels on this CPU)")


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
        # whatever kernel "medium" picks, the product stays close to float64's
        assert torch.allclose((a.float() @ b.float()).double(), a @ b, rtol=1e-3, atol=1e-3)
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError), float32_matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
        raise RuntimeError("restored on the way out too")
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="matmul_precision must be one of"), float32_matmul_precision("bf16"):
        pass
