"""Catalog dataset of the ``tying`` pipelines: a training checkpoint that may not exist yet."""

from __future__ import annotations

import logging

from kedro_datasets.pickle import PickleDataset

log = logging.getLogger(__name__)


class OptionalPickleDataset(PickleDataset):
    """A :class:`~kedro_datasets.pickle.PickleDataset` that loads ``None`` while its file does not
    exist: the previous part of a training run split into parts (``tying_<variant>_part``), which
    the first part does not have."""

    def load(self):
        if not self._exists():
            log.info("%s does not exist yet: loading None", self._filepath)
            return None
        return super().load()
