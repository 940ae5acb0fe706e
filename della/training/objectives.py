"""Training objectives: the KL weight schedules and the tricks against posterior collapse,
composable with any latent model (README, "Models and recipes").

loss = mean_B rec(x)  +  beta(step) * KL_term  +  bow_weight * mean_B(-log p_bow(x | z))

``rec`` is the token cross-entropy summed over the sequence, averaged over the batch (the official
DELLA code, train.py ``compute_loss`` / model.py ``forward``). ``KL_term`` starts from the
analytic per-dimension KL ``[B, L, d]`` a model returns and applies, in this order:

1. ``kl_groups``: which latent groups are regularised: ``all``; ``first`` / ``last`` are the
   DELLA paper's table-4 ablations (KL on the first or the last layer only).
2. free bits (``free_bits`` = lambda > 0) in one of four modes:
   * ``dimension`` — Optimus (Li et al. 2020, ``dim_target_kl``): per sentence and dimension,
     KL terms <= lambda are masked out of the objective;
   * ``group``     — per sentence and latent group (per layer for DELLA): max(lambda, KL of the
     group) — exactly the official DELLA code's optional per-layer floor ``kl_threshold``
     (model.py: ``kl_loss = torch.max(kl_loss, kl_threshold)`` for each layer's per-sentence KL);
   * ``sentence``  — max(lambda, KL of each sentence);
   * ``batch``     — max(lambda, batch-mean KL) (Pelsmaeker & Aziz 2020 "batch free bits").
3. ``kl_reduction`` over groups: ``mean`` — the official DELLA code averages the per-layer KL
   over layers; ``sum`` — paper Eq. 6. Single-latent models have one group, where both agree.

Schedules of beta (``beta_schedule``):
* ``constant``  — ``beta_max`` throughout (the "no trick" recipe);
* ``linear``    — Bowman et al. 2016: 0 → ``beta_max`` linearly over the first ``anneal_fraction``
  of training, then constant;
* ``cyclical``  — Fu et al. 2019 as in the DELLA paper and official train.py: each period
  holds ``beta_min`` = 1e-5 for its first half, rises linearly to ``beta_max`` over the next
  quarter and stays there for the last quarter. ``cycles: N`` splits the run's step budget into
  N equal periods (so the schedule completes the same way for every model of a task); without
  it a period is ``cycle_epochs`` epochs (the paper: 2), rounded so that training ends at the
  end of one;
* ``optimus``   — Li et al. 2020, exactly the official ``frange_cycle_zero_linear(n_iter, stop=beta_max,
  n_cycle=1, ratio_increase=0.25, ratio_zero=0.5)`` (Optimus utils.py:996-1010, run_lm_vae_training.py:326):
  0 at steps ``i < n/2``; from the first step ``i0 = ceil(n/2)`` on, ``(i - i0) * beta_max / (n/4)`` until
  that passes ``beta_max``, then ``beta_max`` (tests/test_parity_official.py checks it against the
  official values). For an odd ``n`` the ramp starts at 0 on step ``(n+1)/2``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

BETA_SCHEDULES = ("constant", "linear", "cyclical", "optimus")
FREE_BITS_MODES = ("dimension", "group", "sentence", "batch")


@dataclass
class ObjectiveConfig:
    beta_schedule: str = "constant"
    beta_max: float = 1.0
    beta_min: float = 1e-5  # the official code's beta_0 during the flat part of a cycle
    cycle_epochs: float = 2.0
    cycles: int | None = None  # cyclical: periods over the whole step budget (overrides cycle_epochs)
    anneal_fraction: float = 0.5
    kl_reduction: str = "mean"  # mean (official code) | sum (paper Eq. 6)
    kl_groups: str = "all"  # all | first | last
    free_bits: float = 0.0
    free_bits_mode: str = "dimension"
    bow_weight: float = 0.0

    def __post_init__(self):
        checks = {"beta_schedule": BETA_SCHEDULES, "free_bits_mode": FREE_BITS_MODES,
                  "kl_reduction": ("mean", "sum"), "kl_groups": ("all", "first", "last")}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"objective.{key} = {getattr(self, key)!r}; expected one of {allowed}")
        if self.cycles is not None and (not isinstance(self.cycles, int) or self.cycles < 1):
            raise ValueError(f"objective.cycles = {self.cycles!r}; expected a positive integer (or null)")

    @classmethod
    def from_dict(cls, values: dict) -> "ObjectiveConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown objective key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def beta_at(cfg: ObjectiveConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """KL weight at optimisation step ``step`` (0-based) of ``total_steps``."""
    total_steps = max(total_steps, 1)
    progress = step / total_steps
    if cfg.beta_schedule == "constant":
        return cfg.beta_max
    if cfg.beta_schedule == "linear":
        return cfg.beta_max * min(1.0, progress / cfg.anneal_fraction)
    if cfg.beta_schedule == "optimus":
        # frange_cycle_zero_linear: beta 0 while i < n_iter * ratio_zero, then v = 0, step, 2 step, ...
        # (step = beta / (n_iter * ratio_increase)) while v <= beta, then beta
        first_ramp_step = math.ceil(total_steps * 0.5)
        if step < first_ramp_step:
            return 0.0
        return min(cfg.beta_max, (step - first_ramp_step) * (cfg.beta_max / (total_steps * 0.25)))
    # cyclical
    if cfg.cycles is not None:
        n_cycles = cfg.cycles
    else:
        n_cycles = max(1, round(total_steps / max(steps_per_epoch, 1) / cfg.cycle_epochs))
    period = total_steps / n_cycles
    phase = (step % period) / period
    if phase < 0.5:
        return cfg.beta_min
    return cfg.beta_min + (cfg.beta_max - cfg.beta_min) * min(1.0, (phase - 0.5) / 0.25)


def kl_term_per_sentence(kl: torch.Tensor, cfg: ObjectiveConfig) -> torch.Tensor:
    """The KL part of the objective of each sentence, ``[B, L, d] -> [B]``, before the batch mean
    (for ``free_bits_mode: batch`` the floor applies to the batch mean only: see ``kl_term``)."""
    if cfg.kl_groups == "first":
        kl = kl[:, :1]
    elif cfg.kl_groups == "last":
        kl = kl[:, -1:]
    reduce_groups = (lambda t: t.mean(-1)) if cfg.kl_reduction == "mean" else (lambda t: t.sum(-1))
    lam = cfg.free_bits
    if lam > 0 and cfg.free_bits_mode == "dimension":
        # Optimus vae.py:126-128: kl_mask = (loss_kl > dim_target_kl) per sentence and dimension
        return reduce_groups((kl * (kl > lam).to(kl.dtype)).sum(-1))
    if lam > 0 and cfg.free_bits_mode == "group":  # official DELLA kl_threshold
        return reduce_groups(kl.sum(-1).clamp(min=lam))
    per_sentence = reduce_groups(kl.sum(-1))  # [B]
    if lam > 0 and cfg.free_bits_mode == "sentence":
        return per_sentence.clamp(min=lam)
    return per_sentence


def kl_term(kl: torch.Tensor, cfg: ObjectiveConfig) -> torch.Tensor:
    """The KL part of the objective from per-dimension KL ``[B, L, d]`` (a scalar): the batch mean of
    ``kl_term_per_sentence``, floored at ``free_bits`` for ``free_bits_mode: batch``."""
    mean = kl_term_per_sentence(kl, cfg).mean()
    if cfg.free_bits > 0 and cfg.free_bits_mode == "batch":
        return mean.clamp(min=cfg.free_bits)
    return mean


def training_loss(out, cfg: ObjectiveConfig, beta: float) -> tuple[torch.Tensor, dict]:
    """The scalar to minimise and the figures to log (rec and KL per sentence, nats)."""
    rec = out.rec.mean()
    loss = rec
    logs = {"rec": rec.item(), "beta": beta}
    if out.kl is not None:
        kl = kl_term(out.kl, cfg)
        loss = loss + beta * kl
        per_group = out.kl.sum(-1).mean(0)  # [L] KL of each latent group (DELLA: each layer), per sentence
        logs["kl"] = per_group.sum().item()  # total KL summed over groups, unmodified
        if per_group.numel() > 1:
            logs.update({f"kl_group{i}": value for i, value in enumerate(per_group.tolist())})
        logs["kl_term"] = kl.item()
        if cfg.bow_weight > 0:
            if out.bow_ll is None:
                raise ValueError("objective.bow_weight > 0 but the model was built without options.bow")
            bow = -out.bow_ll.mean()
            loss = loss + cfg.bow_weight * bow
            logs["bow"] = bow.item()
    logs["loss"] = loss.item()
    return loss, logs
