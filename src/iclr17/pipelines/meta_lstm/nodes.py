"""Nodes of the ``meta_lstm`` pipeline (Ravi & Larochelle, ICLR 2017): pure functions of catalog
entries and ``params:``.

data prep   Omniglot (Vinyals split, rotations as classes, resized) or mini-ImageNet (Ravi split,
            user-supplied images) -> uint8 class arrays; the fixed, seeded validation and test episodes
training    per shot: the meta-learner LSTM (episodic, first-order, checkpointed per block of
            episodes), Matching Networks with and without full-context embeddings; once: the
            baseline network trained on all training classes
evaluation  accuracy with a 95 % interval over the test episodes for every (model, shot),
            meta-training curves, paper_vs_run
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from iclr17.common.checkpoint import (
    Checkpoint,
    Checkpoints,
    random_state,
    set_random_state,
)
from iclr17.common.reporting import final_metrics, row, to_markdown
from iclr17.common.runtime import describe_device, owned, pick_device, seed_everything
from iclr17.pipelines.meta_lstm.data import (
    episode_tensors,
    miniimagenet_split,
    omniglot_split,
    sample_episodes,
)
from iclr17.pipelines.meta_lstm.model import (
    BatchNormState,
    ConvEmbedding,
    Learner,
    MatchingNetwork,
    MetaLearner,
)

SPLITS = ("train", "val", "test")

# ----------------------------------------------------------------------------------------------
# data prep
# ----------------------------------------------------------------------------------------------


def prepare_omniglot(raw: dict, splits: dict, cfg: dict) -> tuple[dict, dict]:
    """The three Vinyals splits as uint8 arrays ``(classes, 20, size, size)`` (ink = 255), and
    their counts; no character is in two splits (checked).  ``cfg.max_classes`` keeps the first n
    classes of each split (the test env's slice)."""
    images = {"background": raw["images_background.npz"]["images"], "evaluation": raw["images_evaluation.npz"]["images"]}
    limit = cfg.get("max_classes") or {}
    lines = {s: splits[f"{s}.txt"].split()[: limit.get(s)] for s in SPLITS}
    characters = {s: {line.rsplit("/", 1)[0] for line in lines[s]} for s in SPLITS}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if characters[a] & characters[b]:
            raise ValueError(f"the {a} and {b} splits share characters: {sorted(characters[a] & characters[b])[:3]}")
    size = cfg["image_size"]
    data = {s: omniglot_split(images, raw["alphabets.csv"], lines[s], size) for s in SPLITS}
    stats = {s: {"classes": int(d.shape[0]), "characters": len(characters[s]), "images_per_class": int(d.shape[1])}
             for s, d in data.items()}
    return {**data, "name": f"Omniglot {size}x{size}, Vinyals split"}, {"image_size": size, **stats}


def prepare_miniimagenet(split_csvs: dict, image_dir: str, cfg: dict) -> tuple[dict, dict]:
    """The Ravi split's classes as uint8 RGB arrays from the user's images (a clear error names
    what to put where when they are missing)."""
    from pathlib import Path

    size = cfg["image_size"]
    data = {s: miniimagenet_split(split_csvs[f"{s}.csv"], Path(image_dir), size) for s in SPLITS}
    stats = {s: {"classes": int(d.shape[0]), "images_per_class": int(d.shape[1])} for s, d in data.items()}
    return {**data, "name": f"mini-ImageNet {size}x{size}, Ravi split"}, {"image_size": size, **stats}


def fixed_episodes(shots: tuple[int, ...], data: dict, episodes: dict) -> dict:
    """The validation and test episodes of every shot, fixed by ``episodes.seed`` (the same set
    for every model: the paper's protocol of 600 test episodes, 15 queries per class)."""
    out = {}
    for split, n in (("val", episodes["val_episodes"]), ("test", episodes["test_episodes"])):
        classes, per_class = data[split].shape[:2]
        for k in shots:
            c, i = sample_episodes(classes, per_class, n, episodes["ways"], k, episodes["queries"],
                                   episodes["seed"] + 1000 * k + (0 if split == "val" else 1))
            out[f"{split}_{k}shot"] = {"classes": c, "items": i, "shots": k}
    return out


# ----------------------------------------------------------------------------------------------
# the meta-learner LSTM
# ----------------------------------------------------------------------------------------------


def _tensors(images, classes, items, shots, device):
    return [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in episode_tensors(images, classes, items, shots)]


class LearnerClock:
    """Seconds spent in the learner's own forward and backward passes (the rest of an episode is
    the meta-learner's)."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._start = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start


def learn_episode(meta: MetaLearner, learner: Learner, xs, ys, inner: dict, clock: LearnerClock | None = None):
    """Train the learner on one support set as the meta-learner says: ``inner.epochs`` passes in
    batches of ``inner.batch_size``, each step's loss and gradient taken at the detached current
    parameters (first order: no second derivatives), the parameters the meta-learner's cell state.
    Returns the final parameters (in the meta-learner's graph) and the episode's batch-norm state."""
    clock = clock or LearnerClock()
    state = meta.start()
    bn = BatchNormState.fresh(learner.filters, learner.blocks, xs.device)
    for _ in range(inner["epochs"]):
        for s in range(0, len(xs), inner["batch_size"]):
            theta = state["c"].detach().requires_grad_()
            with clock:
                loss = F.cross_entropy(learner.forward(theta, xs[s:s + inner["batch_size"]], bn, True),
                                       ys[s:s + inner["batch_size"]])
                (grad,) = torch.autograd.grad(loss, theta)
            state = meta.step(state, loss.detach(), grad)
    return state["c"], bn


def _channels(images: np.ndarray) -> int:
    """3 for RGB class arrays ``(classes, k, H, W, 3)``, 1 for grey ones."""
    return 3 if images.ndim == 5 else 1


def _learner(data: dict, ways: int, model: dict, bn_momentum: float) -> Learner:
    return Learner(_channels(data["train"]), data["train"].shape[2], ways, model["filters"], bn_eps=model["bn_eps"],
                   bn_momentum=bn_momentum)


def _meta_learner(learner: Learner, model: dict, seed: int) -> MetaLearner:
    gen = seed_everything(seed)
    meta = MetaLearner(learner.n_params, model["hidden"], model["preprocess_p"], tuple(model["forget_bias"]),
                       tuple(model["input_bias"]))
    with torch.no_grad():
        meta.cell.c_0.copy_(learner.init_params(gen))
    return meta


def evaluate_meta_learner(meta: MetaLearner, learner: Learner, images, episodes: dict, inner: dict, device,
                          desc: str = "") -> dict[str, np.ndarray]:
    """Accuracy (%) on each of the fixed episodes, ``official``: the query set with the running
    batch-norm statistics of the episode's support passes (as the official code evaluates);
    ``query_batch``: with the query set's own statistics (transductive, as MAML evaluates), from
    the same adapted learner."""
    accs = {"official": [], "query_batch": []}
    for classes, items in tqdm(zip(episodes["classes"], episodes["items"]), total=len(episodes["classes"]),
                               desc=desc, mininterval=5.0, disable=not desc):
        xs, ys, xq, yq = _tensors(images, classes, items, episodes["shots"], device)
        theta, bn = learn_episode(meta, learner, xs, ys, inner)
        with torch.no_grad():
            for key, stats in (("official", bn), ("query_batch", None)):
                hit = learner.forward(theta, xq, stats, training=stats is None).argmax(1) == yq
                accs[key].append(100.0 * hit.float().mean().item())
    return {k: np.asarray(v) for k, v in accs.items()}


def _resume(checkpoint: Checkpoint | None, net, opt, rng: np.random.Generator, progress: dict) -> dict:
    """Load an episodic run's last saved block into ``net``, ``opt`` and the generators; its
    progress (history, best block), or ``progress`` when there is none."""
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is None:
        return progress
    net.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    set_random_state(saved["random"])
    rng.bit_generator.state = saved["rng"]
    return saved["progress"]


def _end_block(progress: dict, entry: dict, net, opt, rng: np.random.Generator, checkpoint: Checkpoint | None) -> None:
    """Record a block of episodes (``entry`` with its ``val_acc``), keep the weights of the best
    validation block, and save the whole state."""
    progress["history"].append(entry)
    if entry["val_acc"] > progress["best"]:
        progress["best"], progress["best_state"] = entry["val_acc"], owned(net.state_dict())
    if checkpoint is not None:
        checkpoint.save(len(progress["history"]), {"model": net.state_dict(), "optimizer": opt.state_dict(),
                                                   "random": random_state(), "rng": rng.bit_generator.state,
                                                   "progress": progress})


def _without_budget(cfg: dict) -> dict:
    """A training configuration without its episode budget: a checkpoint of a shorter run is the
    start of a longer one (``--params meta_lstm.training.1shot.episodes=20000`` goes on from it)."""
    return {k: _without_budget(v) if isinstance(v, dict) else v for k, v in cfg.items() if k != "episodes"}


def _identity(shot: int, episodes: dict, model: dict, cfg: dict, seed: int) -> dict:
    return {"shot": shot, "episodes": dict(episodes), "model": dict(model), "training": _without_budget(cfg), "seed": seed}


def train_meta_learner(shot: int, data: dict, fixed: dict, episodes: dict, model: dict, training: dict, seed: int,
                       device: str, checkpoints: Checkpoints | None = None) -> dict:
    """Meta-train the meta-learner LSTM on ``training.episodes`` training episodes (Adam,
    gradient-norm clip), validating on the fixed validation episodes every ``validate_every``;
    checkpointed after each block and resumed.  Returns the weights of the best validation block,
    the curve, and the speed (episodes/s, the learner's share)."""
    cfg = training[f"{shot}shot"]
    dev = pick_device(device)
    learner = _learner(data, episodes["ways"], model, cfg["bn_momentum"])
    meta = _meta_learner(learner, model, seed).to(dev)
    opt = torch.optim.Adam(meta.parameters(), lr=training["lr"])
    rng = np.random.default_rng(seed)
    inner = {"epochs": cfg["inner_epochs"], "batch_size": cfg["inner_batch"]}
    checkpoint = checkpoints.run(f"meta_lstm_{shot}shot", _identity(shot, episodes, model, training, seed)) \
        if checkpoints is not None else None
    progress = _resume(checkpoint, meta, opt, rng, {"history": [], "best": -1.0, "best_state": None, "seconds": 0.0,
                                                    "learner_seconds": 0.0})
    block, total = training["validate_every"], cfg["episodes"]
    done = len(progress["history"]) * block
    clock, images = LearnerClock(), torch.from_numpy(data["train"])
    bar = tqdm(total=total, initial=done, desc=f"meta-LSTM {shot}-shot", mininterval=5.0)
    while done < total:
        start, clock.seconds, losses = time.perf_counter(), 0.0, []
        for _ in range(min(block, total - done)):
            c, i = sample_episodes(len(images), images.shape[1], 1, episodes["ways"], shot, episodes["queries"],
                                   int(rng.integers(2**31)))
            xs, ys, xq, yq = _tensors(data["train"], c[0], i[0], shot, dev)
            theta, bn = learn_episode(meta, learner, xs, ys, inner, clock)
            with clock:  # batch statistics on the query set while meta-training, as the official code
                loss = F.cross_entropy(learner.forward(theta, xq, bn, training=True), yq)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(meta.parameters(), training["clip_norm"])
            opt.step()
            losses.append(loss.item())
            done += 1
            bar.update(1)
        seconds = time.perf_counter() - start
        val = evaluate_meta_learner(meta, learner, data["val"], fixed[f"val_{shot}shot"], inner, dev)["official"]
        progress["seconds"] += seconds
        progress["learner_seconds"] += clock.seconds
        bar.set_postfix(val=f"{val.mean():.1f}")
        _end_block(progress, {"episode": done, "train_loss": float(np.mean(losses)), "val_acc": float(val.mean()),
                              "episodes_per_s": len(losses) / seconds, "learner_share": clock.seconds / seconds},
                   meta, opt, rng, checkpoint)
    bar.close()
    return {"model": "meta_lstm", "shot": shot, "state": progress["best_state"], "history": progress["history"],
            "best_val_acc": progress["best"], "episodes": done, "train_seconds": progress["seconds"],
            "episodes_per_s": done / max(progress["seconds"], 1e-9),
            "learner_share": progress["learner_seconds"] / max(progress["seconds"], 1e-9),
            "n_learner_params": learner.n_params, "device": describe_device(dev)}


# ----------------------------------------------------------------------------------------------
# baselines: a network trained on all training classes (nearest neighbour, fine-tune), Matching Networks
# ----------------------------------------------------------------------------------------------


def _as_batch(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return x[:, None] if images.ndim == 3 else x.permute(0, 3, 1, 2)


def pretrain_network(data: dict, pretrain: dict, seed: int, device: str,
                     checkpoints: Checkpoints | None = None) -> dict:
    """The baselines' network: the conv blocks + a linear layer over every training class, Adam
    on all training images, checkpointed each epoch.  Returns its weights and per-epoch loss."""
    dev = pick_device(device)
    gen = seed_everything(seed)
    images = data["train"]
    n_classes, per_class = images.shape[:2]
    body = ConvEmbedding(_channels(images), pretrain["filters"])
    features = body(torch.zeros(1, *_as_batch(images[0, :1]).shape[1:])).shape[1]
    net = torch.nn.Sequential(body, torch.nn.Linear(features, n_classes)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=pretrain["lr"])
    x, y = images.reshape(-1, *images.shape[2:]), np.repeat(np.arange(n_classes), per_class)
    checkpoint = checkpoints.run("pretrain", {"pretrain": dict(pretrain), "seed": seed, "classes": n_classes}) \
        if checkpoints is not None else None
    history, start = [], time.perf_counter()
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        set_random_state(saved["random"], gen)
        history = saved["history"]
    for epoch in tqdm(range(len(history) + 1, pretrain["epochs"] + 1), desc="baseline network", mininterval=5.0):
        net.train()
        order, total = torch.randperm(len(x), generator=gen).numpy(), 0.0
        for s in range(0, len(x), pretrain["batch_size"]):
            idx = np.sort(order[s:s + pretrain["batch_size"]])
            loss = F.cross_entropy(net(_as_batch(x[idx]).to(dev)), torch.from_numpy(y[idx]).to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append({"epoch": epoch, "train_loss": total / len(x)})
        if checkpoint is not None:
            checkpoint.save(epoch, {"model": net.state_dict(), "optimizer": opt.state_dict(),
                                    "random": random_state(gen), "history": history})
    return {"state": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "history": history,
            "filters": pretrain["filters"], "features": features, "classes": n_classes,
            "train_seconds": time.perf_counter() - start, "device": describe_device(dev)}


def _pretrained_body(pretrained: dict, channels: int) -> ConvEmbedding:
    body = ConvEmbedding(channels, pretrained["filters"])
    body.load_state_dict({k.removeprefix("0."): v for k, v in pretrained["state"].items() if k.startswith("0.")})
    return body.eval()


def nearest_neighbour_accuracy(pretrained: dict, images: np.ndarray, episodes: dict) -> np.ndarray:
    """Each query labelled as its nearest support image (cosine) in the pretrained network's
    feature space; accuracy (%) per episode."""
    body, accs = _pretrained_body(pretrained, _channels(images)), []
    with torch.no_grad():
        for classes, items in zip(episodes["classes"], episodes["items"]):
            xs, ys, xq, yq = _tensors(images, classes, items, episodes["shots"], "cpu")
            sim = F.normalize(body(xq), dim=1) @ F.normalize(body(xs), dim=1).T
            accs.append(100.0 * (ys[sim.argmax(1)] == yq).float().mean().item())
    return np.asarray(accs)


def finetune_accuracy(pretrained: dict, images: np.ndarray, episodes: dict, finetune: dict, seed: int) -> np.ndarray:
    """The pretrained network with a new ``ways``-way linear layer, all weights trained on the
    support set (``finetune.steps`` Adam steps, batch-norm statistics kept from pre-training);
    accuracy (%) per episode."""
    import copy

    base, accs = _pretrained_body(pretrained, _channels(images)), []
    gen = torch.Generator().manual_seed(seed)
    ways = episodes["classes"].shape[1]
    for classes, items in zip(episodes["classes"], episodes["items"]):
        xs, ys, xq, yq = _tensors(images, classes, items, episodes["shots"], "cpu")
        body, head = copy.deepcopy(base), torch.nn.Linear(pretrained["features"], ways)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(pretrained["features"])
            head.weight.uniform_(-bound, bound, generator=gen)
            head.bias.zero_()
        opt = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=finetune["lr"])
        for _ in range(finetune["steps"]):
            loss = F.cross_entropy(head(body(xs)), ys)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            accs.append(100.0 * (head(body(xq)).argmax(1) == yq).float().mean().item())
    return np.asarray(accs)


def matching_accuracy(net: MatchingNetwork, images: np.ndarray, episodes: dict, device) -> np.ndarray:
    net.eval()
    ways, accs = episodes["classes"].shape[1], []
    with torch.no_grad():
        for classes, items in zip(episodes["classes"], episodes["items"]):
            xs, ys, xq, yq = _tensors(images, classes, items, episodes["shots"], device)
            accs.append(100.0 * (net(xs, ys, xq, ways).argmax(1) == yq).float().mean().item())
    return np.asarray(accs)


def train_matching_network(shot: int, fce: bool, data: dict, fixed: dict, episodes: dict, matching: dict, seed: int,
                           device: str, checkpoints: Checkpoints | None = None) -> dict:
    """Matching Networks trained episodically (Adam), validated every ``validate_every``
    episodes, checkpointed after each block; returns the best validation block's weights."""
    dev = pick_device(device)
    seed_everything(seed)
    images = data["train"]
    net = MatchingNetwork(_channels(images), matching["filters"], fce, images.shape[2], matching["fce_steps"]).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=matching["lr"])
    rng = np.random.default_rng(seed)
    name = f"matching{'_fce' if fce else ''}_{shot}shot"
    checkpoint = checkpoints.run(name, {"shot": shot, "fce": fce, "episodes": dict(episodes),
                                        "matching": _without_budget(matching), "seed": seed}) if checkpoints is not None else None
    progress = _resume(checkpoint, net, opt, rng, {"history": [], "best": -1.0, "best_state": None, "seconds": 0.0})
    block, total = matching["validate_every"], matching["episodes"]
    done = len(progress["history"]) * block
    bar = tqdm(total=total, initial=done, desc=name, mininterval=5.0)
    while done < total:
        start, losses = time.perf_counter(), []
        net.train()
        for _ in range(min(block, total - done)):
            c, i = sample_episodes(len(images), images.shape[1], 1, episodes["ways"], shot, episodes["queries"],
                                   int(rng.integers(2**31)))
            xs, ys, xq, yq = _tensors(images, c[0], i[0], shot, dev)
            loss = F.nll_loss(net(xs, ys, xq, episodes["ways"]), yq)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            done += 1
            bar.update(1)
        seconds = time.perf_counter() - start
        val = matching_accuracy(net, data["val"], fixed[f"val_{shot}shot"], dev)
        progress["seconds"] += seconds
        _end_block(progress, {"episode": done, "train_loss": float(np.mean(losses)), "val_acc": float(val.mean()),
                              "episodes_per_s": len(losses) / seconds}, net, opt, rng, checkpoint)
    bar.close()
    return {"model": "matching_fce" if fce else "matching", "shot": shot, "state": progress["best_state"],
            "history": progress["history"], "best_val_acc": progress["best"], "filters": matching["filters"],
            "fce_steps": matching["fce_steps"], "episodes": done, "train_seconds": progress["seconds"], "device": describe_device(dev)}


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def interval(accs: np.ndarray) -> dict:
    """Mean accuracy and its 95 % confidence half-width over episodes (1.96 s / sqrt(n), as the
    official code reports)."""
    accs = np.asarray(accs, dtype=float)
    half = 1.96 * accs.std(ddof=1) / math.sqrt(len(accs)) if len(accs) > 1 else float("nan")
    return {"mean": float(accs.mean()), "ci95": float(half), "episodes": len(accs)}


def _runs_by_key(runs) -> dict:
    return {(r["model"], r["shot"]): r for r in runs}


def evaluate_models(data: dict, fixed: dict, pretrained: dict, episodes: dict, model: dict, training: dict,
                    finetune: dict, seed: int, device: str, *runs: dict) -> dict:
    """Every (model, shot)'s accuracy over the same fixed test episodes, with its interval
    (``runs``: the meta-learner's and the Matching Networks' training results, any order)."""
    dev, images, out = pick_device(device), data["test"], {}
    by_key = _runs_by_key(runs)
    meta_runs = {k: r for (m, k), r in by_key.items() if m == "meta_lstm"}
    for k in sorted(meta_runs):
        test = fixed[f"test_{k}shot"]
        cfg = training[f"{k}shot"]
        learner = _learner(data, episodes["ways"], model, cfg["bn_momentum"])
        meta = _meta_learner(learner, model, seed).to(dev)
        meta.load_state_dict(meta_runs[k]["state"])
        inner = {"epochs": cfg["inner_epochs"], "batch_size": cfg["inner_batch"]}
        start = time.perf_counter()
        meta_accs = evaluate_meta_learner(meta, learner, images, test, inner, dev, f"test {k}-shot")
        accs = {"Meta-Learner LSTM": meta_accs["official"], QUERY_BATCH_ROW: meta_accs["query_batch"]}
        meta_seconds = time.perf_counter() - start
        accs["Baseline-nearest-neighbor"] = nearest_neighbour_accuracy(pretrained, images, test)
        accs["Baseline-finetune"] = finetune_accuracy(pretrained, images, test, finetune, seed)
        for fce, name in ((False, "Matching Network"), (True, "Matching Network FCE")):
            run = by_key[("matching_fce" if fce else "matching", k)]
            net = MatchingNetwork(_channels(images), run["filters"], fce, images.shape[2], run["fce_steps"]).to(dev)
            net.load_state_dict(run["state"])
            accs[name] = matching_accuracy(net, images, test, dev)
        out[k] = {name: {**interval(a), "per_episode": [round(float(v), 4) for v in a]} for name, a in accs.items()}
        out[k]["Meta-Learner LSTM"]["test_seconds"] = meta_seconds
    return {"dataset": data["name"], "ways": episodes["ways"], "results": out}


PAPER_ROWS = ("Baseline-finetune", "Baseline-nearest-neighbor", "Matching Network", "Matching Network FCE",
              "Meta-Learner LSTM")
# the same adapted learners, batch norm on each query set's own statistics: not the paper's protocol
QUERY_BATCH_ROW = "Meta-Learner LSTM, query batch statistics"


def summarise(evaluation: dict, paper: dict, *meta_run_list: dict) -> tuple[list[dict], str, dict, plt.Figure]:
    """paper_vs_run rows (the paper's mini-ImageNet numbers and this run's, each row naming its
    dataset; Omniglot anchors from the literature as context), metrics, and the meta-training curves."""
    meta_runs = {r["shot"]: r for r in meta_run_list}
    name, ways, rows, metrics = evaluation["dataset"], evaluation["ways"], [], {}
    mini = name.startswith("mini-ImageNet")
    for k, by_model in sorted(evaluation["results"].items()):
        for model_name in (*PAPER_ROWS, QUERY_BATCH_ROW):
            r = by_model[model_name]
            ref = paper["miniimagenet"][f"{k}shot"].get(model_name)
            note = f"± {r['ci95']:.2f} (95 % interval, {r['episodes']} test episodes)"
            if model_name == QUERY_BATCH_ROW:
                note += "; transductive (as MAML evaluates), not the paper's protocol: context"
            elif not mini:
                note += f"; the paper's {ref} is on mini-ImageNet, not comparable" if ref is not None else ""
                ref = None
            rows.append(row(f"{name} {ways}-way {k}-shot {model_name} test accuracy", ref, r["mean"], "%", note))
            key = f"{model_name.lower().replace(',', '').replace(' ', '_').replace('-', '_')}.{k}shot"
            metrics[f"{key}.test_acc"], metrics[f"{key}.ci95"] = r["mean"], r["ci95"]
        if not mini:
            for model_name, ref in paper["omniglot"][f"{k}shot"].items():
                rows.append(row(f"Omniglot {ways}-way {k}-shot {model_name} (literature; context)", ref,
                                by_model["Matching Network"]["mean"] if model_name.startswith("Matching") else None,
                                "%", "this run's Matching Network beside the published Omniglot number"))
    for k, run in meta_runs.items():
        metrics[f"meta_learner_lstm.{k}shot.episodes_per_s"] = run["episodes_per_s"]
        metrics[f"meta_learner_lstm.{k}shot.learner_share"] = run["learner_share"]
    md = to_markdown(rows, f"meta_lstm ({name}): Table 1, paper vs this run")
    history = {f"meta_learner_lstm.{k}shot.val_acc": [{"value": h["val_acc"], "step": h["episode"]} for h in run["history"]]
               for k, run in meta_runs.items()}
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, run in sorted(meta_runs.items()):
        ax.plot([h["episode"] for h in run["history"]], [h["val_acc"] for h in run["history"]], "o-", label=f"{k}-shot")
    ax.set(xlabel="meta-training episodes", ylabel="validation accuracy (%)", title=f"Meta-Learner LSTM, {name}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return rows, md, {**final_metrics(metrics), **history}, fig
