"""The ``gcn`` DAG: per dataset data prep and training, then one evaluation over all datasets.

``gcn`` covers Cora and Citeseer; ``gcn_pubmed`` is the same DAG for Pubmed, whose ``allx``
file this project's mirror lacks (it runs where the file can be downloaded)."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import stage_node_factory

from . import nodes

_n = stage_node_factory("gcn")


def create_pipeline(datasets: tuple[str, ...] = ("cora", "citeseer"), suffix: str = "", **kwargs) -> Pipeline:
    per_dataset = []
    for ds in datasets:
        per_dataset += [
            _n(nodes.assemble_planetoid, f"gcn.raw_{ds}", f"gcn.{ds}_graph", f"assemble_{ds}", "data_prep"),
            _n(nodes.graph_stats, f"gcn.{ds}_graph", f"gcn.{ds}_stats", f"stats_{ds}", "data_prep"),
            _n(
                nodes.train_gcn,
                [f"gcn.{ds}_graph", "params:gcn.training", "params:gcn.propagation_models"],
                f"gcn.{ds}_results",
                f"train_{ds}",
                "training",
            ),
            _n(
                nodes.label_propagation,
                [f"gcn.{ds}_graph", "params:gcn.label_propagation"],
                f"gcn.{ds}_label_propagation",
                f"label_propagation_{ds}",
                "training",
            ),
        ]
    results = [f"gcn.{ds}_results" for ds in datasets]
    evaluation = [
        _n(nodes.accuracy_table, results, f"gcn.accuracy_table{suffix}", f"accuracy_table{suffix}", "evaluation"),
        _n(
            nodes.summarise,
            [f"gcn.accuracy_table{suffix}", "params:gcn.paper", *[f"gcn.{ds}_label_propagation" for ds in datasets]],
            [f"gcn.paper_vs_run{suffix}", f"gcn.paper_vs_run_md{suffix}", f"gcn.final_metrics{suffix}"],
            f"paper_vs_run{suffix}",
            "evaluation",
        ),
        _n(nodes.training_curves, results, f"gcn.training_curves{suffix}", f"training_curves{suffix}", "evaluation"),
        _n(
            nodes.tsne_plot,
            ["params:gcn.tsne", *[x for ds in datasets for x in (f"gcn.{ds}_results", f"gcn.{ds}_graph")]],
            f"gcn.tsne_plot{suffix}",
            f"tsne_plot{suffix}",
            "evaluation",
        ),
    ]
    return Pipeline(per_dataset + evaluation)
