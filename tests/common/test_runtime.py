import pytest
import torch

from iclr17.common.runtime import map_jobs, pick_device, resolve_workers, seed_everything


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
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))
