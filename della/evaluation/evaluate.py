"""Evaluate one trained run: likelihood and latent metrics, generation, text metrics.

Writes one ``metrics.json`` per run (every figure, with its convention stated) and the generated
samples. Unconditional tasks: samples decoded from z ~ p(z), scored against the whole test set
(BLEU: every sample against all test sentences as references; Self-BLEU; distinct-n; Jaccard).
Conditional tasks: one output per test source with z ~ p(z | source), scored against its target
(sacrebleu corpus BLEU with its signature, ROUGE-1/2/L) plus the same diversity metrics.
For the synthetic demo, ``factor_probe`` measures how much of each known latent factor the
posterior means recover (nearest-centroid accuracy per factor, its chance level beside it).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from della.data.batching import encode_example
from della.data.batching import encode_examples, encoder_pad_id, make_batches
from della.evaluation import text_metrics as text_metrics_module
from della.evaluation.decoding import generate
from della.evaluation.latent import evaluate_language_model, evaluate_latent_model
from della.io import write_json
from della.progress import INFO, format_duration, say, track

EVAL_DEFAULTS = {
    "batch_size": 50,
    "max_sentences": 1000,  # test sentences used for PPL / ELBO / KL / MI / AU, drawn at random (subset_seed)
    "subset_seed": 0,  # seed of the evaluated subset, the same for every run so that runs score the same sentences
    "long_sentences": "full",  # targets longer than train.max_length: "full" (scored up to n_positions) | "drop"
    "iw_samples": 30,  # K of the importance-weighted bound (DELLA's code: 30; Optimus: 100)
    "iw_chunk": 10,  # decoder passes run K·B sequences, this many copies of the batch at a time
    "mi": True,
    "au_deltas": [0.01, 0.2],
    "n_samples": 200,  # generated texts (unconditional) / test sources (conditional)
    "max_n": 4,
    "decoding": {"strategy": "sample", "top_k": 50, "top_p": 1.0, "num_beams": 10, "temperature": 1.0,
                 "max_new_tokens": 48},
    "model_metrics": {},  # {"bertscore": folder, "mauve": folder, "cnd": true}: local models only, off by default
}


def _eval_settings(eval_cfg: dict) -> dict:
    unknown = set(eval_cfg) - set(EVAL_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown evaluate key(s) {sorted(unknown)}; known: {sorted(EVAL_DEFAULTS)}")
    cfg = {**EVAL_DEFAULTS, **eval_cfg}
    cfg["decoding"] = {**EVAL_DEFAULTS["decoding"], **(eval_cfg.get("decoding") or {})}
    return cfg


@torch.no_grad()
def factor_probe(post_means: torch.Tensor, factors: list[dict]) -> dict:
    """Nearest-centroid accuracy of each categorical factor from posterior means ``[N, D]``:
    centroids from the first half, accuracy on the second half, and beside it the chance level
    (the majority-class rate on that second half, what a probe reading nothing from z reaches).
    Returns ``{factor: {"accuracy", "chance", "n_classes"}}``."""
    n = post_means.shape[0]
    if n < 4 or not factors or not factors[0]:
        return {}
    # centred, not scaled per dimension: an inactive dimension (Var_x E[z|x] ~ 0, see AU) would
    # otherwise be blown up to the weight of an active one and drown it in noise
    x = post_means.float()
    x = x - x.mean(0)
    half = n // 2
    out = {}
    for key in factors[0]:
        values = [str(f.get(key)) for f in factors]
        classes = sorted(set(values))
        if not 1 < len(classes) <= 50:
            continue
        y = torch.tensor([classes.index(v) for v in values])
        train_y, test_y = y[:half], y[half:]
        present = [c for c in range(len(classes)) if (train_y == c).any()]
        centroids = torch.stack([x[:half][train_y == c].mean(0) for c in present])
        pred = torch.tensor(present)[torch.cdist(x[half:], centroids).argmin(1)]
        majority = max((test_y == c).float().mean().item() for c in range(len(classes)))
        out[key] = {"accuracy": (pred == test_y).float().mean().item(), "chance": majority,
                    "n_classes": len(classes)}
    return out


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

    Returns ``(encoded, kept examples, stats)``; ``stats`` counts the long targets
    (``n_long_sentences``), the dropped ones and those still cut at ``n_positions`` (no <eos>)."""
    if long_sentences not in ("full", "drop"):
        raise ValueError(f"evaluate.long_sentences = {long_sentences!r}; expected 'full' or 'drop'")
    encoded, kept = [], []
    n_long = n_cut = 0
    for ex in examples:
        n_target = len(tokenizer.encode(ex.target))
        if n_target <= max_length:
            encoded.append(encode_example(tokenizer, ex.target, ex.source, max_length, max_source_length,
                                          encoder_tokenizer))
            kept.append(ex)
            continue
        n_long += 1
        if long_sentences == "drop":
            continue
        prompt = 1 if ex.source is None else 2 + min(len(tokenizer.encode(ex.source)), max_source_length)
        room = n_positions - prompt - 1  # the target and its <eos> must fit in the positions
        n_cut += n_target > room
        encoded.append(encode_example(tokenizer, ex.target, ex.source, max(room, 1), max_source_length,
                                      encoder_tokenizer))
        kept.append(ex)
    stats = {"long_sentences": long_sentences, "n_long_sentences": n_long,
             "n_long_dropped": n_long if long_sentences == "drop" else 0, "n_cut_at_n_positions": n_cut}
    return encoded, kept, stats


def evaluate_run(*, model, tokenizer, test_examples, task_spec, eval_cfg: dict, train_cfg: dict, seed: int,
                 samples_path: Path, progress: bool = True) -> dict:
    cfg = _eval_settings(eval_cfg)
    torch.manual_seed(seed)
    device = model.device
    enc_tok, enc_pad = getattr(model, "encoder_tokenizer", None), encoder_pad_id(model)
    subset = evaluation_subset(len(test_examples), cfg["max_sentences"], cfg["subset_seed"])
    encoded, examples, long_stats = encode_for_scoring(
        tokenizer, [test_examples[i] for i in subset], max_length=train_cfg["max_length"],
        max_source_length=train_cfg["max_source_length"], n_positions=model.cfg.n_positions,
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
    if model.has_latent:
        means: list = []
        result.update(evaluate_latent_model(model, batches, k=cfg["iw_samples"], k_chunk=cfg["iw_chunk"],
                                            mi=cfg["mi"], au_deltas=tuple(cfg["au_deltas"]), progress=progress,
                                            posterior_means=means))
        result["ppl"] = result["ppl_sum"]
        result["neg_elbo"] = result["neg_elbo_sum"]
        result["kl"] = result["kl_sum"]
        probe = factor_probe(means[0].reshape(means[0].shape[0], -1).cpu(), [ex.factors for ex in examples])
        if probe:
            result["factor_probe"] = probe
    else:
        result.update(evaluate_language_model(model, batches, progress=progress))

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
    n_refs = len(outputs) if task_spec.conditional else len(test_examples)
    if progress and len(outputs) * n_refs >= 1_000_000:  # BLEU of every sample against every reference
        say(INFO, f"evaluate text metrics: {len(outputs)} samples against {n_refs} references")
    if task_spec.conditional:
        ref_tokens = [t.split() for t in targets]
        text = text_metrics_module.text_metrics(hyp_tokens, ref_tokens, conditional=True, hyp_strings=outputs,
                                                ref_strings=targets, max_n=cfg["max_n"])
    else:
        ref_tokens = [ex.target.split() for ex in test_examples]
        text = text_metrics_module.text_metrics(hyp_tokens, ref_tokens, conditional=False, max_n=cfg["max_n"])
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
    return result


def _effective_batch(train_cfg: dict) -> int:
    return (int(train_cfg.get("batch_size", 1)) * int(train_cfg.get("grad_accum", 1))
            * int(train_cfg.get("devices", 1)))


def save_metrics(path: Path, result: dict) -> None:
    write_json(path, result)


def evaluate_saved_run(*, model_path: Path, test_path: Path, info_path: Path, tokenizer, task: str, recipe: str,
                       run: dict, seed: int, threads: int | None, metrics_path: Path, samples_path: Path,
                       timing_path: Path, progress: bool = True) -> dict:
    """Evaluate ``model.pt`` on the test split: ``metrics.json`` (every figure plus the run's recipe,
    budget and selected checkpoint), ``samples.jsonl`` and ``eval_timing.json``. ``run`` is the run's
    spec (della/config.py ``run_spec``). The train job calls this on the model it has just
    written and the evaluate rule when the settings or the code changed since (della/provenance.py
    ``evaluation_stamp``): one function, so both give the same bytes."""
    import time

    from della.data.readers import TASKS, read_jsonl
    from della.training.checkpoints import load_trained
    from della.training.loop import TRAIN_DEFAULTS

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    model, state = load_trained(Path(model_path))
    info = json.loads(Path(info_path).read_text())
    settings = _eval_settings(run["evaluate"])
    budget = {"max_sentences": settings["max_sentences"], "n_samples": settings["n_samples"],
              **({"iw_samples": settings["iw_samples"]} if model.has_latent else {})}
    print("evaluate: " + ", ".join([f"{settings['max_sentences']} test sentences"]
                                   + ([f"IW K = {settings['iw_samples']}"] if model.has_latent else [])
                                   + [f"{settings['n_samples']} samples ({settings['decoding']['strategy']})"]),
          flush=True)
    result = evaluate_run(model=model, tokenizer=tokenizer, test_examples=read_jsonl(test_path),
                          task_spec=TASKS[task], eval_cfg=run["evaluate"], train_cfg={**TRAIN_DEFAULTS, **run["train"]},
                          seed=seed, samples_path=Path(samples_path), progress=progress)
    result.update(recipe=recipe, model=run["model"], seed=seed, objective=run["objective"],
                  model_config=state["model_config"], data_source=info.get("source"),
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
