"""The PTB data-prep node every language-model pipeline starts with (shared datasets ``ptb.*``,
so ``tying`` and ``noising`` read one prepared corpus)."""

from kedro.pipeline import Node, Pipeline

from iclr17.common.lm.data import ptb_corpus


def ptb_data_prep(namespace: str) -> Pipeline:
    """The corpus prep in ``namespace`` (a paper's ``<paper>.prep``)."""
    return Pipeline(
        [
            Node(
                ptb_corpus,
                ["ptb.raw_train", "ptb.raw_valid", "ptb.raw_test", "params:ptb"],
                ["ptb_corpus", "ptb_corpus_stats"],
                name="prepare_corpus",
                tags=["data_prep"],
                namespace=namespace,
            )
        ]
    )
