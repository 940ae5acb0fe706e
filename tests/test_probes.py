"""The factor probe (della/evaluation/probes.py) and what a twin's evaluation adds (issue 19):
I(F;z) lower bounds, the untrained control, the truth's figures and the per-sentence file."""
import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from della.data.readers import TASKS, prepare_task, read_jsonl
from della.data.tokenizer import TextTokenizer
from della.evaluation.evaluate import evaluate_run
from della.evaluation.probes import factor_information
from della.training.checkpoints import initial_model, load_trained
from della.training.loop import train_run
from della.training.objectives import ObjectiveConfig

N = 2000
CLASSES = {"a": 8, "b": 4, "c": 3, "d": 6}
SKEWED = np.array([0.6, 0.25, 0.15])


def _factors(seed=0):
    rng = np.random.default_rng(seed)
    labels = {k: rng.integers(0, n, N) for k, n in CLASSES.items() if k != "c"}
    labels["c"] = rng.choice(3, N, p=SKEWED)
    entropies = {k: math.log(n) for k, n in CLASSES.items()}
    entropies["c"] = float(-(SKEWED * np.log(SKEWED)).sum())
    return rng, labels, entropies


def test_one_hot_factors_give_their_entropy():
    rng, labels, entropies = _factors()
    z = np.concatenate([np.eye(CLASSES[k])[labels[k]] for k in CLASSES] + [rng.normal(size=(N, 43))], 1)
    summary, per_sentence = factor_information(z, labels, entropies, CLASSES)
    for k, figures in summary.items():
        assert entropies[k] - 0.01 <= figures["info_nats"] <= entropies[k] + 1e-9, (k, figures)
        assert figures["accuracy"] == 1.0 and figures["n_sentences"] == N
        assert per_sentence[k]["info"].mean() == pytest.approx(figures["info_nats"])


def test_pure_noise_gives_zero_within_its_error():
    """Nothing to read: the bound is 0 within three standard errors, less the small price of
    estimating K - 1 label frequencies from half the sentences ((K - 1) / (2 n_half) nats);
    accuracy is at its chance level (the training half's majority value)."""
    rng, labels, entropies = _factors(seed=1)
    summary, _ = factor_information(rng.normal(size=(N, 64)), labels, entropies, CLASSES)
    for k, figures in summary.items():
        price = (CLASSES[k] - 1) / N
        assert -(3 * figures["info_se"] + price) < figures["info_nats"] < 3 * figures["info_se"] + 1e-3, (k, figures)
        assert abs(figures["accuracy"] - figures["chance"]) < 0.05
    assert summary["c"]["chance"] == pytest.approx(0.6, abs=0.04)  # the majority value's rate, not 1 / K


def test_a_value_missing_from_a_half_gets_a_finite_cross_entropy():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40)
    y[-1] = 3  # seen once, in the second half only: the first half's probe never saw it
    summary, per_sentence = factor_information(rng.normal(size=(40, 4)), {"f": y}, {"f": math.log(4)}, {"f": 4})
    assert np.isfinite(per_sentence["f"]["info"]).all() and math.isfinite(summary["f"]["info_nats"])


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """The ptb twin, its tokenizer and a tiny DELLA trained for 3 steps (lr 1e-30: its weights stay
    at their initial values)."""
    folder = tmp_path_factory.mktemp("twin")
    paths = prepare_task("ptb", folder / "data", seed=0, synthetic_sizes={"train": 64, "valid": 8, "test": 30})
    tok = TextTokenizer.train([e.target for e in read_jsonl(paths["train"])], vocab_size=300)
    sizes = {"n_layer": 2, "n_embd": 16, "n_head": 2, "n_positions": 128, "latent_size": 4, "dropout": 0.0}
    model_path = train_run(model_name="della", model_kwargs=sizes, objective=ObjectiveConfig(beta_schedule="constant"),
                           train_cfg={"steps": 3, "batch_size": 8, "lr": 1e-30, "max_length": 48},
                           tokenizer=tok, train_examples=read_jsonl(paths["train"]), out_dir=folder / "run", seed=5,
                           progress=False)
    return {"paths": paths, "tok": tok, "model_path": model_path, "sizes": sizes, "folder": folder}


def test_initial_model_is_what_training_started_from(twin):
    model, state = load_trained(twin["model_path"], device=torch.device("cpu"))
    start = initial_model(state, 5, torch.device("cpu"))
    # three steps of lr 1e-30 move a weight by at most ~3e-30 (zero biases become +-1e-30)
    assert max((start.state_dict()[k] - v).abs().max().item() for k, v in model.state_dict().items()) < 1e-20
    other = initial_model(state, 6, torch.device("cpu"))
    assert max((other.state_dict()[k] - v).abs().max().item() for k, v in model.state_dict().items()) > 1e-3


def _evaluate(twin, out, model=None, initial=None, probe_sentences=200):
    model = model or load_trained(twin["model_path"], device=torch.device("cpu"))[0]
    out.mkdir(parents=True, exist_ok=True)
    info = json.loads(twin["paths"]["info"].read_text())
    return evaluate_run(model=model, tokenizer=twin["tok"], test_examples=read_jsonl(twin["paths"]["test"]),
                        task_spec=TASKS["ptb"], eval_cfg={"max_sentences": 20, "iw_samples": 3, "n_samples": 6,
                                                          "probe_sentences": probe_sentences,
                                                          "decoding": {"max_new_tokens": 8}},
                        train_cfg={"max_length": 48, "max_source_length": 8}, seed=0, samples_path=out / "s.jsonl",
                        progress=False, info=info, initial_model=initial, per_sentence_path=out / "per_sentence.csv.gz")


def test_twin_evaluation_reports_the_probe_its_control_and_the_truth(twin, tmp_path):
    model, state = load_trained(twin["model_path"], device=torch.device("cpu"))
    out = _evaluate(twin, tmp_path, model, lambda: initial_model(state, 5, torch.device("cpu")))
    info = json.loads(twin["paths"]["info"].read_text())
    assert set(out["factor_information"]) == set(out["factor_information_init"]) == set(info["factors"])
    for name, figures in out["factor_information_init"].items():
        assert math.isfinite(figures["info_nats"]) and figures["n_sentences"] == 200
        assert figures["entropy_nats"] == info["factors"][name]["entropy_nats"]
    # the run never left its initial weights: the probe and its control see the same model
    assert out["factor_info_nats"] == pytest.approx(out["factor_info_nats_init"], abs=1e-9)
    assert out["factor_entropy_nats"] == pytest.approx(info["factor_entropy_nats"])
    assert out["factor_info_nats"] < 0.5  # an untrained encoder carries (almost) nothing
    # the truth on the scored sentences, and the model's excess over it in every convention
    assert out["n_excess_sentences"] == out["n_scored"] == 20
    assert 0.5 * info["text_entropy_nats"] < out["true_nll"] < 1.5 * info["text_entropy_nats"]
    assert set(out["excess"]) == {"ppl", "ppl_paper", "neg_elbo", "neg_elbo_paper"}
    for figures in out["excess"].values():
        assert figures["lo"] <= figures["nats"] <= figures["hi"]
    assert out["excess"]["ppl"]["nats"] > 0  # an untrained model is far above the truth
    assert out["true_ppl"] < out["ppl"]


def test_per_sentence_file_reproduces_the_figures_and_its_bytes(twin, tmp_path):
    model, state = load_trained(twin["model_path"], device=torch.device("cpu"))
    a = _evaluate(twin, tmp_path / "a", model, lambda: initial_model(state, 5, torch.device("cpu")))
    _evaluate(twin, tmp_path / "b", model, lambda: initial_model(state, 5, torch.device("cpu")))
    first, second = (tmp_path / "a" / "per_sentence.csv.gz").read_bytes(), (tmp_path / "b" / "per_sentence.csv.gz").read_bytes()
    assert first == second and gzip.decompress(first).startswith(b"part,index,")
    rows = pd.read_csv(tmp_path / "a" / "per_sentence.csv.gz")
    assert rows.part.value_counts().to_dict() == {"scored": 20, "probe": 200, "sample": 6}
    scored = rows[rows.part == "scored"]
    assert math.exp(-scored.log_p.sum() / scored.n_tokens.sum()) == pytest.approx(a["ppl"], rel=1e-6)
    assert math.exp(-scored.log_p_paper.sum() / scored.n_tokens_paper.sum()) == pytest.approx(a["ppl_paper"], rel=1e-6)
    assert scored.kl.mean() == pytest.approx(a["kl"], rel=1e-6) and scored.kl_paper.mean() == pytest.approx(a["kl_paper"], rel=1e-6)
    assert (scored.rec + scored.kl).mean() == pytest.approx(a["neg_elbo"], rel=1e-6)
    assert (scored.log_p_true - scored.log_p).mean() == pytest.approx(a["excess"]["ppl"]["nats"], rel=1e-6)
    probe = rows[rows.part == "probe"]
    assert probe.probe_info.mean() == pytest.approx(a["factor_info_nats"], rel=1e-6)
    assert probe["probe_info_init.sector"].notna().all()
    samples = rows[rows.part == "sample"]
    assert samples.bleu.mean() == pytest.approx(a["bleu"], rel=1e-6)
    assert samples.self_bleu.mean() == pytest.approx(a["self_bleu"], rel=1e-6)
    assert {"mu.0.0", "mu_paper.1.3", "kl.1", "mi_sampled_term"} <= set(rows.columns)


def test_the_probe_changes_no_other_figure(twin, tmp_path):
    """The probe runs last, in its own random stream: every other figure is what it was without it."""
    with_probe = _evaluate(twin, tmp_path / "a")
    without = _evaluate(twin, tmp_path / "b", probe_sentences=0)
    shared = set(without) - {"per_sentence_file"}
    assert {k: with_probe[k] for k in shared if k != "seconds"} == {k: without[k] for k in shared if k != "seconds"}
    assert "factor_information" in with_probe and "factor_information" not in without
