"""The ``prodlda`` DAG: data prep -> training -> evaluation."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import stage_node_factory

from . import nodes

_n = stage_node_factory("prodlda")


def create_pipeline(**kwargs) -> Pipeline:
    prep = [
        _n(
            nodes.preprocess_corpus,
            ["prodlda.raw_train", "prodlda.vocab", "params:prodlda.preprocessing"],
            "prodlda.train_corpus",
            "preprocess_train",
            "data_prep",
        ),
        _n(
            nodes.preprocess_corpus,
            ["prodlda.raw_test", "prodlda.vocab", "params:prodlda.preprocessing"],
            "prodlda.test_corpus",
            "preprocess_test",
            "data_prep",
        ),
        _n(
            nodes.compare_with_paper_test,
            ["prodlda.test_corpus", "prodlda.paper_test"],
            "prodlda.split_agreement",
            "compare_with_paper_test",
            "data_prep",
        ),
        _n(
            nodes.build_bow,
            ["prodlda.train_corpus", "prodlda.test_corpus", "prodlda.paper_test", "prodlda.vocab", "params:prodlda.test_split"],
            "prodlda.bow",
            "build_bow",
            "data_prep",
        ),
        _n(
            nodes.build_reference_corpus,
            ["prodlda.train_corpus", "prodlda.test_corpus", "prodlda.paper_test", "prodlda.vocab", "params:prodlda.npmi"],
            "prodlda.reference_docs",
            "build_reference_corpus",
            "data_prep",
        ),
    ]
    common = ["prodlda.bow", "params:prodlda.n_topics", "params:prodlda.seeds"]
    training = [
        _n(
            nodes.train_avitm,
            [*common, "params:prodlda.models.prodlda", "params:prodlda.device", "params:prodlda.workers",
             "prodlda.prodlda_checkpoints"],
            "prodlda.prodlda_models",
            "train_prodlda",
            "training",
        ),
        _n(
            nodes.train_avitm,
            [*common, "params:prodlda.models.nvlda", "params:prodlda.device", "params:prodlda.workers",
             "prodlda.nvlda_checkpoints"],
            "prodlda.nvlda_models",
            "train_nvlda",
            "training",
        ),
        _n(
            nodes.fit_lda_vb,
            ["prodlda.bow", "params:prodlda.n_topics", "params:prodlda.lda_vb"],
            "prodlda.lda_vb_models",
            "fit_lda_vb",
            "training",
        ),
        _n(
            nodes.fit_lda_gibbs,
            ["prodlda.bow", "params:prodlda.n_topics", "params:prodlda.lda_gibbs"],
            "prodlda.lda_gibbs_models",
            "fit_lda_gibbs",
            "training",
        ),
    ]
    models = ["prodlda.prodlda_models", "prodlda.nvlda_models"]
    evaluation = [
        _n(
            nodes.score_topics,
            [*models, "prodlda.lda_vb_models", "prodlda.lda_gibbs_models", "prodlda.reference_docs", "prodlda.vocab", "params:prodlda.npmi"],
            "prodlda.topic_scores",
            "score_topics",
            "evaluation",
        ),
        _n(
            nodes.calibrate_npmi,
            ["prodlda.paper_coherence_log", "prodlda.reference_docs", "prodlda.vocab", "params:prodlda.npmi"],
            "prodlda.npmi_calibration",
            "calibrate_npmi",
            "evaluation",
        ),
        _n(nodes.compute_perplexity, [*models, "prodlda.bow"], "prodlda.perplexity", "compute_perplexity", "evaluation"),
        _n(
            nodes.summarise,
            [
                "prodlda.topic_scores",
                "prodlda.perplexity",
                "prodlda.npmi_calibration",
                "prodlda.split_agreement",
                *models,
                "params:prodlda.n_topics",
                "params:prodlda.paper",
            ],
            ["prodlda.paper_vs_run", "prodlda.paper_vs_run_md", "prodlda.final_metrics"],
            "paper_vs_run",
            "evaluation",
        ),
        _n(nodes.training_curves, models, "prodlda.training_curves", "training_curves", "evaluation"),
        _n(nodes.plot_results, ["prodlda.topic_scores", *models], "prodlda.results_plot", "plot_results", "evaluation"),
        _n(nodes.topics_table, "prodlda.topic_scores", "prodlda.topics_md", "topics_table", "evaluation"),
    ]
    return Pipeline(prep + training + evaluation)
