"""A kill in the middle of training, for the resume tests (tests/test_train.py, tests/test_validation.py):
the training loop's β lookup (called once per optimiser step) raises KeyboardInterrupt at one step, as a
SIGKILL would stop the job there, before that step changes anything."""
import contextlib

import pytest

import della.training.loop as train_module


@contextlib.contextmanager
def killed_at(monkeypatch, killed_step: int):
    """Inside the block, training stops when step ``killed_step`` starts (the block must be stopped so);
    afterwards training runs normally again."""
    real_beta_at = train_module.beta_at

    def beta_or_kill(cfg, step, *args):
        if step == killed_step:
            raise KeyboardInterrupt("killed")
        return real_beta_at(cfg, step, *args)

    monkeypatch.setattr(train_module, "beta_at", beta_or_kill)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        monkeypatch.setattr(train_module, "beta_at", real_beta_at)
