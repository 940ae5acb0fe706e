"""Claims decided with their uncertainty (issue 19): the paired bootstrap (della/evaluation/bootstrap.py)
against sacrebleu's, its behaviour on known and null effects, and the claims file and table
(della/reporting/claims.py, config/claims.yaml)."""
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from della.evaluation.bootstrap import active_units_of, bootstrap_effect, corpus_bleu_of, mean_of
from della.reporting.claims import (ClaimsError, check_claims, claims_markdown, decide_claims, load_claims,
                                    merge_tables, verdict)
from della.reporting.readme import check_block

REPO = Path(__file__).resolve().parents[1]


def test_known_effect_is_held_and_its_reverse_not_held():
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    e = bootstrap_effect([{"v": x + 0.5 + rng.normal(scale=0.5, size=300)}], [{"v": x}], mean_of("v"))
    assert e.lo > 0 and verdict(e, "greater") == "held" and verdict(e, "less") == "not held"


def test_zero_effect_is_inconclusive_in_about_95_percent():
    rng = np.random.default_rng(2)
    outcomes = []
    for _ in range(400):
        x = rng.normal(size=100)
        e = bootstrap_effect([{"v": x + rng.normal(size=100)}], [{"v": x + rng.normal(size=100)}], mean_of("v"),
                             resamples=400, seed=int(rng.integers(2**31)))
        outcomes.append(verdict(e, "greater"))
    assert 0.91 <= outcomes.count("inconclusive") / len(outcomes) <= 0.985


def _systems(n=120, seed=0):
    r = random.Random(seed)
    words = "the a cat dog sat on mat ran fast slow big small red".split()
    refs = [" ".join(r.choice(words) for _ in range(r.randint(4, 12))) for _ in range(n)]
    noisy = lambda p: [" ".join(w if r.random() > p else r.choice(words) for w in ref.split()) for ref in refs]
    return refs, noisy(0.3), noisy(0.45)


def test_corpus_bleu_bootstrap_equals_sacrebleu(monkeypatch):
    """Our paired bootstrap of a corpus-BLEU difference is sacreBLEU's (``PairedTest``, test_type
    ``bs``, its default seed and 1,000 resamples): the same resampled scores of both systems, hence
    the same mean, 95% interval and p-value."""
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # sacreBLEU's default seed, 12345
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest, _compute_p_value, estimate_ci
    refs, good, bad = _systems()
    cols = {}
    for name, hyps in (("good", good), ("bad", bad)):
        s = np.array(BLEU()._extract_corpus_statistics(hyps, [refs]))
        cols[name] = {f"bleu_stat.{i}": s[:, i] for i in range(10)}
    e = bootstrap_effect([cols["good"]], [cols["bad"]], corpus_bleu_of())
    _, scores = PairedTest([("bad", bad), ("good", good)], {"BLEU": BLEU()}, [refs], test_type="bs")()
    base, system = scores["BLEU"]
    assert (e.a, e.b) == (system.score, base.score)
    assert estimate_ci(e.a_resamples) == pytest.approx((system.mean, system.ci), abs=1e-12)
    assert estimate_ci(e.b_resamples) == pytest.approx((base.mean, base.ci), abs=1e-12)
    diffs = np.abs(e.a_resamples - e.b_resamples)
    assert _compute_p_value(diffs - diffs.mean(), abs(e.a - e.b)) == system.p_value


def test_seeds_widen_the_interval():
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    a = [{"v": x + 0.3 + s + rng.normal(scale=0.2, size=200)} for s in (0.0, 0.4, -0.4)]
    b = [{"v": x + rng.normal(scale=0.2, size=200)} for _ in range(3)]
    one, three = bootstrap_effect(a[:1], b[:1], mean_of("v")), bootstrap_effect(a, b, mean_of("v"))
    assert (three.hi - three.lo) > 2 * (one.hi - one.lo)


def test_non_inferiority_margin():
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    e = bootstrap_effect([{"v": x - 0.2 + rng.normal(scale=0.1, size=400)}], [{"v": x}], mean_of("v"))
    assert verdict(e, "greater") == "not held" and verdict(e, "greater", margin=1.0) == "held"


def test_claims_are_validated():
    ok = {"id": "x", "metric": "kl", "a": "della", "b": "embed", "direction": "greater"}
    check_claims([ok], {"della", "embed"})
    for bad, message in [({**ok, "metric": "kll"}, "unknown metric"), ({**ok, "threshold": 1}, "exactly one"),
                         ({**ok, "b": "embd"}, "neither a recipe"), ({**ok, "tasks": ["ptb", "imdb"]}, "tasks"),
                         ({**ok, "direction": "up"}, "direction"), ({**ok, "colour": 1}, "unknown key")]:
        with pytest.raises(ClaimsError, match=message):
            check_claims([bad], {"della", "embed"})
    with pytest.raises(ClaimsError, match="duplicate id"):
        check_claims([ok, ok], {"della", "embed"})


def test_active_units_resample_the_posterior_means():
    rng = np.random.default_rng(5)
    cols = {f"mu.{layer}.{unit}": rng.normal(scale=1.0 if unit < 3 else 0.01, size=200)
            for layer in range(2) for unit in range(4)}
    statistic = active_units_of("mu", 0.2)
    assert statistic.value(cols) == 3.0  # per layer: units 0-2 vary, unit 3 does not
    assert set(statistic.resampled(cols, rng.integers(0, 200, size=(20, 200)))) == {3.0}


def test_unpaired_samples_are_drawn_independently():
    """Unconditional generations of A and B are unrelated draws: resampled independently (and may
    differ in number); the first draw is still sacrebleu's."""
    rng = np.random.default_rng(6)
    a, b = {"v": rng.normal(size=50)}, {"v": rng.normal(size=70)}
    paired_draw = np.random.default_rng(12345).choice(50, size=(1000, 50), replace=True)
    effect = bootstrap_effect([a], [b], mean_of("v"), paired=False)
    assert np.allclose(effect.a_resamples, a["v"][paired_draw].mean(1))
    assert effect.n_units == 50 and len(effect.b_resamples) == 1000


def test_the_claims_file_is_valid_and_one_line_per_claim():
    from della.models.registry import available_models

    claims = load_claims(REPO / "config" / "claims.yaml", known_recipes=set(available_models()) | {
        "della+no-tricks", "embed+no-tricks", "embed+linear", "embed+free-bits", "embed+bn"})
    lines = [line for line in (REPO / "config" / "claims.yaml").read_text().splitlines() if line.startswith("  - {")]
    assert len(lines) == len(claims) >= 30  # one line each
    assert {c["metric"] for c in claims} >= {"kl", "mi_sampled", "au_paper@0.2", "factor_info", "ppl", "ppl_paper",
                                               "self_bleu", "bleu"}


def _per_sentence(tmp_path, name, kl_shift, n=80, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"part": "scored", "index": np.arange(n), "n_tokens": 10, "n_tokens_paper": 11,
                          "log_p": -20 + rng.normal(size=n), "log_p_paper": -19 + rng.normal(size=n),
                          "kl": 2 + kl_shift + rng.normal(scale=0.3, size=n)})
    path = tmp_path / f"{name}.csv.gz"
    frame.to_csv(path, index=False)
    return path


def test_adding_a_claim_is_one_line_and_missing_runs_say_so(tmp_path):
    runs = {("ptb", "della"): [_per_sentence(tmp_path, "d", 1.0)], ("ptb", "embed"): [_per_sentence(tmp_path, "e", 0.0, seed=1)]}
    claims = [{"id": "kl-della-embed", "metric": "kl", "a": "della", "b": "embed", "direction": "greater", "tasks": "all"}]
    table = decide_claims(claims, runs)
    assert list(table.verdict) == ["held"]
    claims.append({"id": "kl-della-memory", "metric": "kl", "a": "della", "b": "memory", "direction": "greater"})
    claims.append({"id": "mi-della-embed", "metric": "mi", "a": "della", "b": "embed", "direction": "greater"})
    table = decide_claims(claims, runs)
    assert list(table.verdict) == ["held", "not run", "n/a"]
    md = claims_markdown(table, title="t")
    assert re.search(r"\| kl-della-memory +\| KL \(layer sum\) +\| della +\| > memory +\| not run +\|", md)
    table.to_csv(tmp_path / "a.csv", index=False)
    merged = merge_tables([tmp_path / "a.csv", tmp_path / "a.csv"], ["twin", "real"])
    assert merged.startswith("Verdicts:") and re.search(r"\| Claim +\| Metric +\| A +\| vs +\| twin +\| real +\|", merged)


def test_readme_block_is_replaced_between_its_markers(tmp_path):
    runs = {("ptb", "della"): [_per_sentence(tmp_path, "d", 1.0)], ("ptb", "embed"): [_per_sentence(tmp_path, "e", 0.0, seed=1)]}
    claims = [{"id": "kl-della-embed", "metric": "kl", "a": "della", "b": "embed", "direction": "greater"}]
    decide_claims(claims, runs).to_csv(tmp_path / "claims.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- claims:begin sha256= -->\nold table\n<!-- claims:end -->\nrest\n")
    subprocess.run([sys.executable, "-m", "della.reporting.claims", "merge", str(tmp_path / "claims.csv"),
                    "--labels", "ptb twin", "--readme", str(readme)], check=True, cwd=REPO)
    text = readme.read_text()
    assert re.match(r"intro\n<!-- claims:begin sha256=[0-9a-f]{16} -->\nVerdicts: held 1", text) and "old table" not in text
    assert re.search(r"\| kl-della-embed +\| KL \(layer sum\) +\| della +\| > embed +\| held \+", text)
    assert text.endswith("<!-- claims:end -->\nrest\n")
    assert check_block(readme, "claims") is None  # the README block mechanism of della/reporting/readme.py


# --------------------------------------------------------------------------- #
# The workflow: claims in `all`, the claims study planned, bad claims refused at start-up
# --------------------------------------------------------------------------- #


def _dry_run(*args):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    counts = {}
    if "Job stats" in out:
        import re

        stats = out.split("Job stats")[1].split("total")[0]
        counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    return proc, counts


def test_study_claims_is_planned_and_claims_are_part_of_all():
    proc, counts = _dry_run("study_claims")  # the default config: ptb twin, 11 recipes x 3 seeds
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert counts["train"] == counts["evaluate"] == 33 and counts["study_claims"] == 1
    assert "results/runs/ptb/della.s5000/seed2/metrics.json" in proc.stdout
    proc, counts = _dry_run("all", "--configfile", "config/smoke.yaml")
    assert proc.returncode == 0 and counts["claims"] == 1


def test_the_real_data_study_needs_a_data_root(tmp_path):
    proc, _ = _dry_run("study_claims", "--configfile", "config/study-ptb-real.yaml")
    assert proc.returncode != 0 and "study_claims.data is 'real' but data_root is null" in proc.stderr
    for split in ("train", "valid", "test"):
        (tmp_path / "ptb").mkdir(exist_ok=True)
        (tmp_path / "ptb" / f"ptb.{split}.txt").write_text("the cat sat on the mat\n" * 20)
    proc, counts = _dry_run("study_claims", "--configfile", "config/study-ptb-real.yaml",
                            "--config", f"data_root={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert counts["train"] == 22 and counts["study_claims"] == 1  # 11 recipes x 2 seeds
    proc, _ = _dry_run("study_claims", "--config", f"data_root={tmp_path}")  # the twin's config with real data
    assert proc.returncode != 0 and "config/study-ptb-real.yaml" in proc.stderr


def test_a_bad_claim_is_refused_before_any_job(tmp_path):
    bad = tmp_path / "claims.yaml"
    bad.write_text("claims:\n  - {id: kl-della-embed, metric: kl, a: della, b: embd, direction: greater}\n")
    proc, _ = _dry_run("all", "--configfile", "config/smoke.yaml", "--config", f"claims={{file: {bad}}}")
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("Using workflow specific profile")]
    assert proc.returncode != 0 and lines[0].startswith("DELLA-Bench config error")
    assert "claim 1 (kl-della-embed): b = 'embd' is neither a recipe of the config nor a model" in proc.stderr
