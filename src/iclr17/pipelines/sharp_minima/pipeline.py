"""The ``sharp_minima`` DAG (F1 on MNIST): data prep -> SB/LB training -> sharpness, parametric
plot, batch-size sweep -> paper_vs_run.  ``sharp_minima_cifar`` is C1 on CIFAR-10 (data prep,
training, accuracy), for users who have CIFAR-10; it is not in ``__default__``."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import stage_node_factory

from . import nodes

_n = stage_node_factory("sharp_minima")


def create_pipeline(**kwargs) -> Pipeline:
    s = "sharp_minima"
    return Pipeline(
        [
            _n(nodes.assemble_mnist, [f"{s}.raw_mnist", f"params:{s}.data.expected"], [f"{s}.mnist", f"{s}.mnist_stats"],
               "assemble_mnist", "data_prep"),
            _n(nodes.train_regimes, [f"{s}.mnist", f"params:{s}.network", f"params:{s}.training", f"{s}.checkpoints"],
               f"{s}.runs", "train_sb_lb", "training"),
            _n(nodes.batch_size_sweep, [f"{s}.mnist", f"params:{s}.network", f"params:{s}.training", f"params:{s}.batch_sweep",
                                        f"{s}.runs", f"{s}.checkpoints"],
               [f"{s}.batch_sweep_table", f"{s}.batch_sweep_plot"], "batch_size_sweep", "training"),
            _n(nodes.accuracy_table, [f"{s}.runs", f"params:{s}.network"], f"{s}.accuracy_table", "accuracy_table",
               "evaluation"),
            _n(nodes.sharpness_table, [f"{s}.runs", f"{s}.mnist", f"params:{s}.network", f"params:{s}.sharpness"],
               f"{s}.sharpness_table", "sharpness", "evaluation"),
            _n(nodes.parametric_plot, [f"{s}.runs", f"{s}.mnist", f"params:{s}.network", f"params:{s}.parametric"],
               [f"{s}.parametric_table", f"{s}.parametric_plot"], "parametric_plot", "evaluation"),
            _n(nodes.summarise, [f"{s}.accuracy_table", f"{s}.sharpness_table", f"{s}.runs", f"params:{s}.paper"],
               [f"{s}.paper_vs_run", f"{s}.paper_vs_run_md", f"{s}.metrics"], "paper_vs_run", "evaluation"),
        ]
    )


def create_cifar_pipeline(**kwargs) -> Pipeline:
    s = "sharp_minima"
    return Pipeline(
        [
            _n(nodes.assemble_cifar10, [f"{s}.raw_cifar10", f"params:{s}.cifar.expected"], [f"{s}.cifar10", f"{s}.cifar10_stats"],
               "assemble_cifar10", "data_prep"),
            _n(nodes.train_regimes, [f"{s}.cifar10", f"params:{s}.cifar.network", f"params:{s}.cifar.training",
                                     f"{s}.cifar_checkpoints"],
               f"{s}.cifar_runs", "train_c1_sb_lb", "training"),
            _n(nodes.accuracy_table, [f"{s}.cifar_runs", f"params:{s}.cifar.network"], f"{s}.cifar_accuracy_table",
               "c1_accuracy_table", "evaluation"),
        ]
    )
