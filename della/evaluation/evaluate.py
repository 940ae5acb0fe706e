"""Evaluate one trained run: likelihood and latent metrics, generation, text metrics.

Writes one ``metrics.json`` per run (every figure, with its convention stated) and the generated
samples. Unconditional tasks: samples decoded from z ~ p(z), scored against the whole test set
(BLEU: every sample against all test sentences as references; Self-BLEU; distinct-n; Jaccard).
Conditional tasks: one output per test source with z ~ p(z | source), scored against its target
(sacrebleu corpus BLEU with its signature, ROUGE-1/2/L) plus the same diversity metrics.

On a synthetic twin (issue 19) the evaluation also measures what the twin's generator makes
exact: how many nats of each generating factor the latent carries (``factor_information``, a
logistic probe on posterior samples of ``evaluate.probe_sentences`` extra generated sentences,
della/evaluation/probes.py; the same probe on the model at initialisation as a control), and how
far the model's likelihood is above the truth's (``excess``: mean log p_true(x) - log p_model(x)
over the scored sentences, with its 95% bootstrap interval; ``true_nll`` / ``true_ppl``: the
truth's own figures on those sentences, the floor no model's expected NLL goes below).

Every evaluation also writes ``per_sentence.csv.gz`` (:func:`write_per_sentence`): the figures of
each scored sentence, probe sentence and generated output, so that any comparison can be
recomputed without the model (della/reporting/claims.py).
"""
from __future__ import annotations

import gzip
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from della.data.batching import encode_example
from della.data.batching import encode_examples, encoder_pad_id, make_batches
from della.evaluation import text_metrics as text_metrics_module
from della.evaluation.bootstrap import bootstrap_effect, excess_of
from della.evaluation.decoding import generate
from della.evaluation.latent import evaluate_language_model, evaluate_latent_model
from della.io import atomic_write_bytes, write_json
from della.paths import resolve_path, shown_path
from della.progress import INFO, format_duration, say, track

EVAL_DEFAULTS = {
    "batch_size": 50,
    "max_sentences": 1000,  # test sentences used for PPL / ELBO / KL / MI / AU, drawn at random (subset_seed)
    "subset_seed": 0,  # seed of the evaluated subset, the same for every run so that runs score the same sentences
    "long_sentences": "full",  # targets longer than train.max_length: "full" (scored up to n_positions) | "drop"
    "iw_samples": 30,  # K of the importance-weighted bound; the paper columns use the model's official K (DELLA 30, Optimus 100)
    "iw_chunk": 10,  # decoder passes run K·B sequences, this many copies of the batch at a time
    "mi": True,
    "au_deltas": [0.01, 0.2],
    "n_samples": 200,  # generated texts (unconditional) / test sources (conditional)
    "max_n": 4,
    "decoding": {"strategy": "sample", "top_k": 50, "top_p": 1.0, "num_beams": 10, "temperature": 1.0,
                 "max_new_tokens": 48},
    "model_metrics": {},  # {"bertscore": folder, "mauve": folder, "cnd": true}: local models only, off by default
    "probe_sentences": 2000,  # synthetic twins: generated sentences the factor probe encodes (della/evaluation/probes.py)
}
PER_SENTENCE_FILE = "per_sentence.csv.gz"


def _eval_settings(eval_cfg: dict) -> dict:
    unknown = set(eval_cfg) - set(EVAL_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown evaluate key(s) {sorted(unknown)}; known: {sorted(EVAL_DEFAULTS)}")
    cfg = {**EVAL_DEFAULTS, **eval_cfg}
    cfg["decoding"] = {**EVAL_DEFAULTS["decoding"], **(eval_cfg.get("decoding") or {})}
    return cfg


def evaluation_subset(n_total: int, count: int, seed: int) -> list[int]:
    """Indices of ``count`` examples drawn uniformly without replacement from ``n_total`` with a
    fixed ``seed``, in file order. Not a prefix: files sorted by label (the Shen-layout Yelp test
    split holds every negative sentence first) would give a one-class subset."""
    if count >= n_total:
        return list(range(n_total))
    gen = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n_total, generator=gen)[:count].tolist())


def encode_for_scoring(tokenizer, examples, *, max_length: int, max_source_length: int, n_positions: int,
                       long_sentences: str, encoder_tokenizer=None):
    """Encode the evaluated examples; targets longer than ``max_length`` (the training cut) are
    scored in full up to the model's ``n_positions`` (``"full"``) or dropped (``"drop"``).

    Returns ``(encoded, kept, stats)``: ``kept`` lists ``(position in examples, example, complete)``
    of each encoded one (``complete``: scored with its <eos>, i.e. not cut at ``n_positions``);
    ``stats`` counts the long targets (``n_long_sentences``), the dropped ones and those still cut
    at ``n_positions``."""
    if long_sentences not in ("full", "drop"):
        raise ValueError(f"evaluate.long_sentences = {long_sentences!r}; expected 'full' or 'drop'")
    encoded, kept = [], []
    n_long = n_cut = 0
    for position, ex in enumerate(examples):
        n_target = len(tokenizer.encode(ex.target))
        if n_target <= max_length:
            encoded.append(encode_example(tokenizer, ex.target, ex.source, max_length, max_source_length,
                                          encoder_tokenizer))
            kept.append((position, ex, True))
            continue
        n_long += 1
        if long_sentences == "drop":
            continue
        prompt = 1 if ex.source is None else 2 + min(len(tokenizer.encode(ex.source)), max_source_length)
        room = n_positions - prompt - 1  # the target and its <eos> must fit in the positions
        n_cut += n_target > room
        encoded.append(encode_example(tokenizer, ex.target, ex.source, max(room, 1), max_source_length,
                                      encoder_tokenizer))
        kept.append((position, ex, n_target <= room))
    stats = {"long_sentences": long_sentences, "n_long_sentences": n_long,
             "n_long_dropped": n_long if long_sentences == "drop" else 0, "n_cut_at_n_positions": n_cut}
    return encoded, kept, stats


def evaluate_run(*, model, tokenizer, test_examples, task_spec, eval_cfg: dict, train_cfg: dict, seed: int,
                 samples_path: Path, progress: bool = True, info: dict | None = None, initial_model=None,
                 per_sentence_path: Path | None = None) -> dict:
    """Every figure of one run (the module docstring). ``info``: the task's info.json (a synthetic
    twin's factors, data seed and exact log p of each test example); ``initial_model``: a callable
    giving the model at initialisation (the probe's control); ``per_sentence_path``: where to write
    the per-sentence file."""
    cfg = _eval_settings(eval_cfg)
    info = info or {}
    torch.manual_seed(seed)
    device = model.device
    enc_tok, enc_pad = getattr(model, "encoder_tokenizer", None), encoder_pad_id(model)
    subset = evaluation_subset(len(test_examples), cfg["max_sentences"], cfg["subset_seed"])
    encoded, kept, long_stats = encode_for_scoring(
        tokenizer, [test_examples[i] for i in subset], max_length=train_cfg["max_length"],
        max_source_length=train_cfg["max_source_length"],
        # Optimus' official convention puts the text at positions 1..T: one position fewer for it
        n_positions=model.cfg.n_positions - getattr(model, "text_position_offset", 0),
        long_sentences=cfg["long_sentences"], encoder_tokenizer=enc_tok)
    if not encoded:
        raise ValueError(f"{task_spec.name}: every evaluated test sentence is longer than train.max_length = "
                         f"{train_cfg['max_length']} and evaluate.long_sentences = 'drop'")
    print(f"evaluate: {len(subset)} of {len(test_examples)} test examples drawn with subset_seed "
          f"{cfg['subset_seed']}; {long_stats['n_long_sentences']} longer than max_length = "
          f"{train_cfg['max_length']} tokens ({'dropped' if cfg['long_sentences'] == 'drop' else 'scored in full'}"
          f", {long_stats['n_cut_at_n_positions']} still cut at n_positions); {len(encoded)} scored")
    batches = [b.to(device) for b in make_batches(encoded, cfg["batch_size"], tokenizer.pad_id, None, enc_pad)]
    result: dict = {"task": task_spec.name, "conditional": task_spec.conditional, "has_latent": model.has_latent,
                    "eval_subset_seed": cfg["subset_seed"], "eval_subset_count": len(subset),
                    "eval_split_size": len(test_examples), "n_scored": len(encoded), **long_stats}
    scored: dict = {}
    if model.has_latent:
        result.update(evaluate_latent_model(model, batches, k=cfg["iw_samples"], k_chunk=cfg["iw_chunk"],
                                            mi=cfg["mi"], au_deltas=tuple(cfg["au_deltas"]), progress=progress,
                                            per_sentence=scored))
        result["ppl"] = result["ppl_sum"]
        result["neg_elbo"] = result["neg_elbo_sum"]
        result["kl"] = result["kl_sum"]
    else:
        result.update(evaluate_language_model(model, batches, progress=progress, per_sentence=scored))
    test_index = [subset[position] for position, _, _ in kept]
    scored_rows = scored_table(scored, test_index, [complete for _, _, complete in kept],
                               (info.get("log_p_true") or {}).get("test"))
    result.update(truth_figures(scored_rows))

    # -- generation -------------------------------------------------------------------------
    n = min(cfg["n_samples"], len(test_examples)) if task_spec.conditional else cfg["n_samples"]
    # conditional tasks: the sources come from a seeded draw of the whole split too (same seed)
    sources_pool = [test_examples[i] for i in evaluation_subset(len(test_examples), n, cfg["subset_seed"])]
    dec = cfg["decoding"]
    outputs: list[str] = []
    sources: list[str] = []
    targets: list[str] = []
    gen_bs = cfg["batch_size"]
    bar = track(f"evaluate sampling ({dec['strategy']})", n, "samples", enabled=progress)
    for start in range(0, n, gen_bs):
        count = min(gen_bs, n - start)
        if task_spec.conditional:
            chunk = sources_pool[start:start + count]
            enc_chunk = encode_examples(tokenizer, chunk, train_cfg["max_length"], train_cfg["max_source_length"],
                                        enc_tok)
            prompts = [e[2] for e in enc_chunk]  # <bos> source <sep>
            batch = make_batches(enc_chunk, count, tokenizer.pad_id, None, enc_pad)[0].to(device)
            z = model.sample_prior(count, model.encode(batch)) if model.has_latent else None
            sources += [ex.source for ex in chunk]
            targets += [ex.target for ex in chunk]
        else:
            prompts = [[tokenizer.bos_id] for _ in range(count)]
            z = model.sample_prior(count) if model.has_latent else None
        ids = generate(model, prompts, z=z, strategy=dec["strategy"], num_beams=dec["num_beams"],
                       top_k=dec["top_k"], top_p=dec["top_p"], temperature=dec["temperature"],
                       max_new_tokens=dec["max_new_tokens"], eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
        outputs += [tokenizer.decode(x) for x in ids]
        bar.update(len(ids))
    bar.close()
    samples_path = Path(samples_path)
    tmp = samples_path.with_name(samples_path.name + ".tmp")
    with tmp.open("w") as f:
        for i, text in enumerate(outputs):
            row = {"output": text}
            if task_spec.conditional:
                row.update(source=sources[i], target=targets[i])
            f.write(json.dumps(row) + "\n")
    tmp.replace(samples_path)

    hyp_tokens = [t.split() for t in outputs]
    per_sample: dict = {}
    n_refs = len(outputs) if task_spec.conditional else len(test_examples)
    if progress and len(outputs) * n_refs >= 1_000_000:  # BLEU of every sample against every reference
        say(INFO, f"evaluate text metrics: {len(outputs)} samples against {n_refs} references")
    if task_spec.conditional:
        ref_tokens = [t.split() for t in targets]
        text = text_metrics_module.text_metrics(hyp_tokens, ref_tokens, conditional=True, hyp_strings=outputs,
                                                ref_strings=targets, max_n=cfg["max_n"], per_sample=per_sample)
    else:
        ref_tokens = [ex.target.split() for ex in test_examples]
        text = text_metrics_module.text_metrics(hyp_tokens, ref_tokens, conditional=False, max_n=cfg["max_n"],
                                                per_sample=per_sample)
    result.update(text)
    result["decoding"] = dec
    result["n_generated"] = len(outputs)
    mm = cfg["model_metrics"]
    if mm:  # BERTScore / MAUVE from local model folders; CND (approximation, see model_metrics.cnd)
        from della.evaluation.model_metrics import ModelMetricsConfig, model_metrics

        refs = targets if task_spec.conditional else [ex.target for ex in test_examples]
        result.update(model_metrics(outputs, refs, ModelMetricsConfig(
            bertscore_model=mm.get("bertscore"), mauve_model=mm.get("mauve"), cnd=bool(mm.get("cnd", False))),
            conditional=task_spec.conditional))

    # -- the factor probe (synthetic twins): last, so that it draws nothing the figures above depend on --
    probe_rows = None
    if model.has_latent and info.get("factors") and cfg["probe_sentences"]:
        start = time.perf_counter()
        figures, probe_rows = factor_probe(model, initial_model, tokenizer, info, task_spec.name,
                                           n=cfg["probe_sentences"], train_cfg=train_cfg,
                                           batch_size=cfg["batch_size"], seed=seed, progress=progress)
        result.update(figures)
        result["seconds"]["probe"] = time.perf_counter() - start
    if per_sentence_path is not None:
        write_per_sentence(per_sentence_path, scored_rows, probe_rows, sample_table(per_sample))
        result["per_sentence_file"] = Path(per_sentence_path).name
    return result


# --------------------------------------------------------------------------- #
# Per-sentence figures, the truth's figures, the factor probe
# --------------------------------------------------------------------------- #


def scored_table(scored: dict, test_index: list[int], complete: list[bool], log_p_true: list | None) -> dict:
    """The ``scored`` rows of the per-sentence file, as columns: ``index`` (line of the test split),
    token counts (scored tokens incl. </s>; +1 for <s>: the official count), ``complete``, the IW
    log p(x) in both conventions (a language model's exact log p in both), -ELBO's terms, KL per
    layer, MI terms, posterior means (``mu.{layer}.{unit}``: lower layers at their means;
    ``mu_paper.…`` and ``mu_paper_pass2.…``: sampled, the official AU's two passes) and, on a twin,
    the truth's ``log_p_true``."""
    n_tokens = np.asarray(scored["n_tokens"], dtype=np.int64)
    cols: dict = {"index": np.asarray(test_index, dtype=np.int64), "n_tokens": n_tokens,
                  "n_tokens_paper": n_tokens + 1, "complete": np.asarray(complete, dtype=np.int8),
                  "log_p": scored["log_p"], "log_p_paper": scored.get("log_p_paper", scored["log_p"])}
    if "rec" in scored:
        kl = np.asarray(scored["kl_groups"])
        cols.update(rec=scored["rec"], kl=kl.sum(1), rec_paper=scored.get("rec_paper", scored["rec"]),
                    kl_paper=scored.get("kl_paper", kl.mean(1)))
        cols.update({f"kl.{layer}": kl[:, layer] for layer in range(kl.shape[1])})
        for key in ("mi_term", "mi_sampled_term"):
            if key in scored:
                cols[key] = scored[key]
        for key in ("mu", "mu_paper", "mu_paper_pass2"):
            mu = np.asarray(scored[key])  # [N, L, d]
            cols.update({f"{key}.{layer}.{unit}": mu[:, layer, unit]
                         for layer in range(mu.shape[1]) for unit in range(mu.shape[2])})
    if log_p_true is not None:
        cols["log_p_true"] = np.asarray([log_p_true[i] for i in test_index], dtype=np.float64)
    return cols


def truth_figures(cols: dict, *, resamples: int = 1000, seed: int = 12345) -> dict:
    """On a twin (``log_p_true`` known), over the complete scored sentences: the truth's ``true_nll``
    (nats per sentence; its mean is the generator's entropy up to sampling), ``true_ppl`` /
    ``true_ppl_paper`` (its perplexity with this run's token counts, both conventions) and the
    model's ``excess`` over it, per convention: ``{nats, lo, hi}``, the mean of log p_true(x) -
    log p_model(x) (for -ELBO: -ELBO(x) + log p_true(x)) with its 95% bootstrap interval over the
    sentences (della/evaluation/bootstrap.py). A bound cannot be below the truth in expectation:
    an interval entirely below 0 means the figure is not a bound (the tables mark it)."""
    if "log_p_true" not in cols:
        return {}
    keep = cols["complete"] == 1
    sub = {key: value[keep] for key, value in cols.items() if not key.startswith("mu")}
    nll = -sub["log_p_true"]
    out = {"n_excess_sentences": int(keep.sum()), "true_nll": float(nll.mean()),
           "true_ppl": math.exp(nll.sum() / sub["n_tokens"].sum()),
           "true_ppl_paper": math.exp(nll.sum() / sub["n_tokens_paper"].sum()), "excess": {}}
    if "rec" in sub:
        sub["neg_log_elbo"] = -(sub["rec"] + sub["kl"])
        sub["neg_log_elbo_paper"] = -(sub["rec_paper"] + sub["kl_paper"])
    conventions = {"ppl": "log_p", "ppl_paper": "log_p_paper", "neg_elbo": "neg_log_elbo",
                   "neg_elbo_paper": "neg_log_elbo_paper"}
    for name, column in conventions.items():
        if column in sub:
            effect = bootstrap_effect([sub], None, excess_of(column), threshold=0.0, resamples=resamples, seed=seed)
            out["excess"][name] = {"nats": effect.effect, "lo": effect.lo, "hi": effect.hi}
    out["excess_nats"] = out["excess"]["ppl"]["nats"]
    return out


def factor_probe(model, initial_model, tokenizer, info: dict, task: str, *, n: int, train_cfg: dict,
                 batch_size: int, seed: int, progress: bool = False) -> tuple[dict, dict]:
    """The factor probe (della/evaluation/probes.py) of the trained model and of the model at
    initialisation, on ``n`` sentences generated from the twin's probe stream
    (della/data/synthetic.py ``generate_probe``), encoded as in training. Returns the metrics.json
    figures and the ``probe`` rows of the per-sentence file."""
    from della.data.synthetic import generate_probe
    from della.evaluation.probes import factor_information, posterior_samples

    examples = generate_probe(task, n, seed=info.get("seed", 0))
    factors = info["factors"]
    latent = [name for name, f in factors.items() if not f["in_source"]]
    labels = {name: [ex.factors[name] for ex in examples] for name in factors}
    entropies = {name: f["entropy_nats"] for name, f in factors.items()}
    n_classes = {name: f["n_values"] for name, f in factors.items()}
    rows: dict = {"index": np.arange(n, dtype=np.int64)}
    figures: dict = {"probe_sentences": n, "factor_entropy_nats": sum(entropies[name] for name in latent)}
    python_state = random.getstate()
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        models = {"": model}
        if initial_model is not None:
            models["_init"] = initial_model()
        bar = track(f"evaluate factor probe ({n} sentences; the trained model, then at initialisation)",
                    len(models), "models", enabled=progress)
        for suffix, probed in models.items():
            torch.manual_seed(seed)  # the same posterior noise for the model and its control
            encoded = encode_examples(tokenizer, examples, train_cfg["max_length"], train_cfg["max_source_length"],
                                      getattr(probed, "encoder_tokenizer", None))
            batches = [b.to(probed.device) for b in make_batches(encoded, batch_size, tokenizer.pad_id, None,
                                                                   encoder_pad_id(probed))]
            summary, per_sentence = factor_information(posterior_samples(probed, batches), labels, entropies,
                                                       n_classes, seed=seed, threads=torch.get_num_threads())
            for name in summary:
                summary[name]["in_source"] = factors[name]["in_source"]
                rows[f"probe_info{suffix}.{name}"] = per_sentence[name]["info"]
                rows[f"probe_correct{suffix}.{name}"] = per_sentence[name]["correct"]
            info_sum = sum(per_sentence[name]["info"] for name in latent)
            rows[f"probe_info{suffix}"] = info_sum
            figures[f"factor_information{suffix}"] = summary
            figures[f"factor_info_nats{suffix}"] = float(info_sum.mean())
            figures[f"factor_info_se{suffix}"] = float(info_sum.std(ddof=1) / math.sqrt(n))
            figures[f"probe_accuracy{suffix}"] = float(np.mean([summary[name]["accuracy"] for name in latent]))
            figures[f"probe_chance{suffix}"] = float(np.mean([summary[name]["chance"] for name in latent]))
            bar.update(1)
        bar.close()
    random.setstate(python_state)
    return figures, rows


def sample_table(per_sample: dict) -> dict | None:
    """The ``sample`` rows of the per-sentence file: per generated output, ``self_bleu`` and either
    ``bleu`` (unconditional) or ``bleu_stat.0..9`` (conditional: sacreBLEU's segment statistics)."""
    if not per_sample:
        return None
    n = len(next(iter(per_sample.values())))
    cols: dict = {"index": np.arange(n, dtype=np.int64)}
    for key, value in per_sample.items():
        value = np.asarray(value)
        if value.ndim == 2:
            cols.update({f"{key}.{j}": value[:, j] for j in range(value.shape[1])})
        else:
            cols[key] = value
    return cols


def write_per_sentence(path, scored: dict, probe: dict | None, sample: dict | None) -> None:
    """``per_sentence.csv.gz``: one row per unit, ``part`` = ``scored`` / ``probe`` / ``sample``,
    the columns of each part (CONVENTIONS.md) and empty cells where a column is another part's.
    Byte-reproducible: floats as ``%.10g``, gzip with no time stamp or file name."""
    import pandas as pd

    frames = [pd.DataFrame({"part": part, **cols}) for part, cols in
              (("scored", scored), ("probe", probe), ("sample", sample)) if cols]
    table = pd.concat(frames, ignore_index=True, sort=False)
    text = table.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    atomic_write_bytes(path, gzip.compress(text.encode(), compresslevel=6, mtime=0))


def _effective_batch(train_cfg: dict) -> int:
    return (int(train_cfg.get("batch_size", 1)) * int(train_cfg.get("grad_accum", 1))
            * int(train_cfg.get("devices", 1)))


def save_metrics(path: Path, result: dict) -> None:
    write_json(path, result)


def evaluate_saved_run(*, model_path: Path, test_path: Path, info_path: Path, tokenizer, task: str, recipe: str,
                       run: dict, seed: int, threads: int | None, metrics_path: Path, samples_path: Path,
                       timing_path: Path, per_sentence_path: Path, progress: bool = True,
                       root: Path | None = None) -> dict:
    """Evaluate ``model.pt`` on the test split: ``metrics.json`` (every figure plus the run's recipe,
    budget and selected checkpoint), ``samples.jsonl``, ``per_sentence.csv.gz`` and
    ``eval_timing.json``. ``run`` is the run's
    spec (della/config.py ``run_spec``). The train job calls this on the model it has just
    written and the evaluate rule when the settings or the code changed since (della/provenance.py
    ``evaluation_stamp``): one function, so both give the same bytes.

    ``root``: the project root. Relative ``evaluate.model_metrics`` folders resolve against it (as
    every path of the config: README "Configs"), and metrics.json names the pretrained folders
    relative to it (della/paths.py ``shown_path``: never an absolute path)."""
    import time

    from della.data.readers import TASKS, read_jsonl
    from della.training.checkpoints import initial_model, load_trained
    from della.training.loop import TRAIN_DEFAULTS

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    model, state = load_trained(Path(model_path))
    info = json.loads(Path(info_path).read_text())
    eval_cfg = dict(run["evaluate"])
    if root is not None and eval_cfg.get("model_metrics"):
        eval_cfg["model_metrics"] = {name: str(resolve_path(value, root)) if isinstance(value, str) else value
                                     for name, value in eval_cfg["model_metrics"].items()}
    settings = _eval_settings(eval_cfg)
    budget = {"max_sentences": settings["max_sentences"], "n_samples": settings["n_samples"],
              **({"iw_samples": settings["iw_samples"]} if model.has_latent else {})}
    print("evaluate: " + ", ".join([f"{settings['max_sentences']} test sentences"]
                                   + ([f"IW K = {settings['iw_samples']}"] if model.has_latent else [])
                                   + [f"{settings['n_samples']} samples ({settings['decoding']['strategy']})"]),
          flush=True)
    result = evaluate_run(model=model, tokenizer=tokenizer, test_examples=read_jsonl(test_path),
                          task_spec=TASKS[task], eval_cfg=eval_cfg, train_cfg={**TRAIN_DEFAULTS, **run["train"]},
                          seed=seed, samples_path=Path(samples_path), progress=progress, info=info,
                          initial_model=lambda: initial_model(state, seed, model.device),
                          per_sentence_path=Path(per_sentence_path))
    model_config = dict(state["model_config"])
    if root is not None:  # the folders it was loaded from, as the results name paths
        model_config["pretrained"] = shown_path(model_config.get("pretrained"), root)
        options = dict(model_config.get("options") or {})
        if options.get("encoder_pretrained"):
            options["encoder_pretrained"] = shown_path(options["encoder_pretrained"], root)
        model_config["options"] = options
    result.update(recipe=recipe, model=run["model"], seed=seed, objective=run["objective"],
                  model_config=model_config, data_source=info.get("source"),
                  synthetic=info.get("source") == "synthetic",
                  # the run's budget: the same for every model of a task (train.steps)
                  train_steps=state.get("steps"), train_tokens=state.get("tokens"),
                  # sentences per optimiser step (batch x accumulation x processes): the budget line under tables
                  train_batch_size=_effective_batch(state.get("train") or run["train"]),
                  eval_budget=budget, data_kind=info.get("data_kind"),
                  # the checkpoint evaluated: the best on validation (della/training/loop.py Validator), if any
                  selected_checkpoint=state.get("selected"))
    # timing varies between identical runs: it goes to eval_timing.json, so that metrics.json is byte-identical
    timing = {"seconds": round(time.perf_counter() - start, 3), "device": str(model.device),
              "latent_eval_seconds": {k: round(v, 3) for k, v in result.pop("seconds", {}).items()}}
    save_metrics(Path(metrics_path), result)
    write_json(Path(timing_path), timing)
    print(f"evaluated in {format_duration(timing['seconds'])}", flush=True)  # the log; the run's end line says it too
    return result
