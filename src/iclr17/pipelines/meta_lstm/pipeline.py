"""The ``meta_lstm`` DAG (Ravi & Larochelle, Table 1): data prep -> per shot, the meta-learner
LSTM and Matching Networks (without and with full-context embeddings), and once the baselines'
network -> every (model, shot) on the same fixed test episodes -> paper_vs_run.  ``meta_lstm`` runs
on Omniglot; ``meta_lstm_miniimagenet`` on mini-ImageNet, for users who supply its images."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import bound, stage_node_factory

from . import nodes

SHOTS = (1, 5)  # Table 1's columns; the ways are a parameter (meta_lstm.episodes.ways)
_n = stage_node_factory("meta_lstm")
_P = "params:meta_lstm"


def _prep(dataset: str) -> list:
    d = f"meta_lstm.{dataset}"
    if dataset == "omniglot":
        prep = _n(nodes.prepare_omniglot, ["meta_lstm.raw_omniglot", "meta_lstm.raw_omniglot_splits",
                                           f"{_P}.omniglot"], [f"{d}.data", f"{d}.data_stats"],
                  "prepare_omniglot", "data_prep")
    else:
        prep = _n(nodes.prepare_miniimagenet, ["meta_lstm.raw_miniimagenet_splits", "meta_lstm.miniimagenet_images",
                                               f"{_P}.miniimagenet"], [f"{d}.data", f"{d}.data_stats"],
                  "prepare_miniimagenet", "data_prep")
    return [prep, _n(bound(nodes.fixed_episodes, SHOTS), [f"{d}.data", f"{_P}.episodes"], f"{d}.episodes",
                     "fixed_episodes", "data_prep")]


def _training(dataset: str) -> list:
    d = f"meta_lstm.{dataset}"
    common = [f"{d}.data", f"{d}.episodes", f"{_P}.episodes"]
    out = []
    for k in SHOTS:
        out.append(_n(bound(nodes.train_meta_learner, k), [*common, f"{_P}.model", f"{_P}.training", f"{_P}.seed",
                                                             f"{_P}.device", f"{d}.checkpoints"],
                      f"{d}.meta_lstm_{k}shot_run", f"train_meta_lstm_{k}shot", "training"))
        for fce in (False, True):
            name = f"matching{'_fce' if fce else ''}_{k}shot"
            out.append(_n(bound(nodes.train_matching_network, k, fce), [*common, f"{_P}.matching", f"{_P}.seed",
                                                                         f"{_P}.device", f"{d}.checkpoints"],
                          f"{d}.{name}_run", f"train_{name}", "training"))
    out.append(_n(nodes.pretrain_network, [f"{d}.data", f"{_P}.pretrain", f"{_P}.seed", f"{_P}.device",
                                           f"{d}.checkpoints"], f"{d}.pretrained_run", "pretrain_baseline", "training"))
    return out


def _evaluation(dataset: str) -> list:
    d = f"meta_lstm.{dataset}"
    runs = [f"{d}.{m}_{k}shot_run" for k in SHOTS for m in ("meta_lstm", "matching", "matching_fce")]
    return [
        _n(nodes.evaluate_models, [f"{d}.data", f"{d}.episodes", f"{d}.pretrained_run", f"{_P}.episodes", f"{_P}.model",
                                   f"{_P}.training", f"{_P}.finetune", f"{_P}.seed", f"{_P}.device", *runs],
           f"{d}.evaluation", "evaluate", "evaluation"),
        _n(nodes.summarise, [f"{d}.evaluation", f"{_P}.paper", *[f"{d}.meta_lstm_{k}shot_run" for k in SHOTS]],
           [f"{d}.paper_vs_run", f"{d}.paper_vs_run_md", f"{d}.metrics", f"{d}.learning_curves"], "paper_vs_run",
           "evaluation"),
    ]


def create_pipeline(dataset: str = "omniglot", **kwargs) -> Pipeline:
    if dataset not in ("omniglot", "miniimagenet"):
        raise ValueError(f"dataset must be omniglot or miniimagenet, got {dataset!r}")
    return Pipeline([*_prep(dataset), *_training(dataset), *_evaluation(dataset)])
