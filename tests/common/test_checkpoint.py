import pytest
import torch

from iclr17.common.checkpoint import (
    CheckpointError,
    CheckpointMismatch,
    Checkpoints,
    CheckpointsDataset,
    differing_keys,
    random_state,
    set_random_state,
)


def test_save_load_keep_and_identity(tmp_path):
    ckpt = Checkpoints(str(tmp_path)).run("train", {"lr": 1.0, "model": {"hidden": 8}})
    assert not ckpt.exists() and ckpt.load() is None
    w = torch.ones(3)
    ckpt.save(1, {"weights": {"w": w}, "history": [1]}, keep=True)
    w += 1  # the checkpoint holds a copy
    ckpt.save(2, {"weights": {"w": w}, "history": [1, 2]})
    assert ckpt.load()["epoch"] == 2 and ckpt.load()["weights"]["w"].tolist() == [2.0, 2.0, 2.0]
    kept = ckpt.load_kept(1)
    assert kept["epoch"] == 1 and kept["weights"]["w"].tolist() == [1.0, 1.0, 1.0] and kept["history"] == [1]
    assert ckpt.load_kept(2) is None
    assert not list(tmp_path.glob(".*.tmp"))  # written to a temporary name, then renamed
    with pytest.raises(CheckpointMismatch, match=r"model\.hidden \(saved 8, now 16\)"):
        ckpt.with_identity({"lr": 1.0, "model": {"hidden": 16}}).load()
    off = Checkpoints(str(tmp_path), resume=False).run("train", {"lr": 1.0, "model": {"hidden": 8}})
    assert off.load() is None and off.load_kept(1) is None and not off.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_format"])
def test_a_truncated_or_corrupt_checkpoint_is_a_clear_error(tmp_path, damage):
    ckpt = Checkpoints(str(tmp_path)).run("train", {"seed": 0})
    ckpt.save(1, {"weights": {"w": torch.randn(100)}})
    path = tmp_path / "train.pt"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"weights": 1}, path)
    with pytest.raises(CheckpointError, match="train.pt .*(truncated or corrupt|not a format-1).*resume=false"):
        ckpt.load()


def test_differing_keys_are_dotted_and_cover_both_sides():
    assert differing_keys({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["a.c", "d"]
    assert differing_keys({"t": (1, 2)}, {"t": [1, 2]}) == []


def test_random_state_round_trip():
    g = torch.Generator().manual_seed(5)
    state = random_state(g)
    first = (torch.rand(3), torch.rand(3, generator=g))
    set_random_state(state, g)
    assert all(torch.equal(a, b) for a, b in zip(first, (torch.rand(3), torch.rand(3, generator=g))))


def test_the_catalog_dataset_hands_out_the_folder_and_the_resume_switch(tmp_path):
    assert CheckpointsDataset(str(tmp_path)).load() == Checkpoints(str(tmp_path), True)
    assert CheckpointsDataset(str(tmp_path), resume="false").load().resume is False
    with pytest.raises(ValueError, match="resume must be true or false"):
        CheckpointsDataset(str(tmp_path), resume="maybe")
