"""A run killed mid-training, for the resume tests of the trainer and of models with their own optimiser."""
from __future__ import annotations

import pytest


def interrupt_training_at(monkeypatch: pytest.MonkeyPatch, epoch: int):  # noqa: ANN201
    """Make ``Trainer.train_epoch`` raise KeyboardInterrupt at ``epoch`` (a killed run); returns the undo."""
    from elcrec.train import Trainer

    real_epoch = Trainer.train_epoch

    def interrupted(self: Trainer, e: int) -> dict:
        if e == epoch:
            raise KeyboardInterrupt
        return real_epoch(self, e)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    return lambda: monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
