"""The word-level LSTM language-model core shared by the ``tying`` and ``noising`` pipelines:
PTB corpus preparation (``data``), the variational-dropout LSTM LM and the augmented loss
(``model``), and truncated-BPTT training with SGD and perplexity evaluation (``train``)."""
