"""KL schedules and training tricks (della/training/objectives.py): values at given steps, and each
free-bits mode against a hand computation."""
import pytest
import torch

from della.training.objectives import ObjectiveConfig, beta_at, kl_term


def test_cyclical_matches_the_official_shape():
    # 4 epochs of 10 steps, period 2 epochs -> two cycles of 20 steps
    cfg = ObjectiveConfig(beta_schedule="cyclical", cycle_epochs=2)
    betas = [beta_at(cfg, s, total_steps=40, steps_per_epoch=10) for s in range(40)]
    assert betas[0] == betas[9] == pytest.approx(1e-5)  # first half: beta_0 = 1e-5
    assert betas[10] == pytest.approx(1e-5)
    assert betas[12] == pytest.approx(1e-5 + (1 - 1e-5) * 2 / 5)  # linear over the third quarter
    assert betas[15] == betas[19] == 1.0  # last quarter at 1
    assert betas[20] == pytest.approx(1e-5)  # the next cycle starts over
    assert betas[39] == 1.0  # training ends at the end of a cycle


def test_cyclical_rounds_to_whole_cycles():
    cfg = ObjectiveConfig(beta_schedule="cyclical", cycle_epochs=2)
    # 3 epochs -> round(1.5) = 2 cycles of 15 steps; the last step is at beta 1
    assert beta_at(cfg, 29, total_steps=30, steps_per_epoch=10) == 1.0
    assert beta_at(cfg, 15, total_steps=30, steps_per_epoch=10) == pytest.approx(1e-5)


def test_linear_optimus_constant():
    lin = ObjectiveConfig(beta_schedule="linear", anneal_fraction=0.5)
    assert beta_at(lin, 0, 100, 10) == 0.0
    assert beta_at(lin, 25, 100, 10) == pytest.approx(0.5)
    assert beta_at(lin, 80, 100, 10) == 1.0
    opt = ObjectiveConfig(beta_schedule="optimus")
    assert beta_at(opt, 49, 100, 10) == 0.0
    assert beta_at(opt, 60, 100, 10) == pytest.approx(0.4)
    assert beta_at(opt, 75, 100, 10) == 1.0
    assert beta_at(ObjectiveConfig(beta_max=0.3), 7, 100, 10) == 0.3


def test_kl_reduction_and_groups():
    kl = torch.rand(5, 3, 4)  # [B, L, d]
    per_group = kl.sum(-1)  # [B, L]
    assert kl_term(kl, ObjectiveConfig(kl_reduction="sum")) == pytest.approx(per_group.sum(-1).mean().item())
    assert kl_term(kl, ObjectiveConfig(kl_reduction="mean")) == pytest.approx(per_group.mean(-1).mean().item())
    assert kl_term(kl, ObjectiveConfig(kl_groups="first")) == pytest.approx(per_group[:, 0].mean().item())
    assert kl_term(kl, ObjectiveConfig(kl_groups="last")) == pytest.approx(per_group[:, -1].mean().item())


def test_free_bits_modes():
    kl = torch.tensor([[[0.1, 0.6, 2.0]], [[0.4, 0.2, 0.05]]])  # [B=2, L=1, d=3]
    lam = 0.5
    # Optimus: terms <= lambda are masked out, per sentence and dimension
    dim = kl_term(kl, ObjectiveConfig(free_bits=lam, free_bits_mode="dimension"))
    assert dim.item() == pytest.approx(((0.6 + 2.0) + 0.0) / 2)
    # per sentence: max(lambda, KL(x))
    sent = kl_term(kl, ObjectiveConfig(free_bits=3.0, free_bits_mode="sentence"))
    assert sent.item() == pytest.approx((3.0 + 3.0) / 2)
    # batch: max(lambda, mean KL)
    assert kl_term(kl, ObjectiveConfig(free_bits=2.0, free_bits_mode="batch")).item() == pytest.approx(2.0)
    assert kl_term(kl, ObjectiveConfig(free_bits=0.1, free_bits_mode="batch")).item() == pytest.approx(3.35 / 2)
    # per sentence and group (layer): max(lambda, KL_l(x)) — the official DELLA kl_threshold
    kl2 = torch.tensor([[[1.0], [0.0]], [[3.0], [0.2]]])  # [B=2, L=2, d=1]
    grp = kl_term(kl2, ObjectiveConfig(free_bits=0.5, free_bits_mode="group", kl_reduction="sum"))
    assert grp.item() == pytest.approx(((1.0 + 0.5) + (3.0 + 0.5)) / 2)
    grp_mean = kl_term(kl2, ObjectiveConfig(free_bits=0.5, free_bits_mode="group", kl_reduction="mean"))
    assert grp_mean.item() == pytest.approx(((1.0 + 0.5) / 2 + (3.0 + 0.5) / 2) / 2)


def test_free_bits_gradient_is_zero_below_the_floor():
    kl = torch.full((4, 1, 2), 0.1, requires_grad=True)
    kl_term(kl, ObjectiveConfig(free_bits=0.5, free_bits_mode="dimension")).backward()
    assert torch.all(kl.grad == 0)


def test_bad_objective_names_the_key():
    with pytest.raises(ValueError, match="beta_schedule"):
        ObjectiveConfig(beta_schedule="sigmoid")
    with pytest.raises(ValueError, match="unknown objective key"):
        ObjectiveConfig.from_dict({"beta": 1})


def test_cycles_split_the_step_budget():
    cfg = ObjectiveConfig(beta_schedule="cyclical", cycles=4)
    # 1000 steps in 4 periods of 250, whatever the epoch length
    for steps_per_epoch in (7, 100, 1000):
        betas = [beta_at(cfg, s, 1000, steps_per_epoch) for s in range(1000)]
        assert betas[124] == pytest.approx(1e-5) and betas[250] == pytest.approx(1e-5)
        assert betas[249] == 1.0 and betas[999] == 1.0
        assert betas[187] == pytest.approx(1e-5 + (1 - 1e-5) * (187 - 125) / 62.5)  # rising over 125..187.5
    with pytest.raises(ValueError, match="cycles"):
        ObjectiveConfig(beta_schedule="cyclical", cycles=0)
