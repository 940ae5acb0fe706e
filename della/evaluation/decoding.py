"""Decoding for ANY ``TextModel`` through ``decoder_logits`` (della/models/vae.py): greedy, beam, sampling.

``generate(model, prompts, z=..., strategy=...)`` returns, for each prompt, the generated
continuation ids: without the prompt, stopped at ``eos_id`` (the ``eos`` itself is not returned).

Batching. Prompts of different lengths are LEFT-padded into one ``[B, P]`` batch; ``key_padding``
marks the real tokens and ``position_ids = cumsum(mask) - 1`` (clamped at 0 on the padding), so
every prompt sees the positions it would see alone. Decoding is incremental with a ``KVCache``
(``use_cache=False`` recomputes the whole sequence at every step: the same tokens, for tests).
Generated positions are always real (mask 1); a finished row keeps being fed ``pad_id`` (its
tokens are discarded). The model is put in eval mode (no dropout) and restored afterwards.

Strategies
----------
* ``greedy``: argmax.
* ``sample``: ``logits / temperature``, then top-k (``top_k > 0``) and nucleus (``top_p < 1``)
  filtering as transformers' ``TopKLogitsWarper`` / ``TopPLogitsWarper``, then one draw
  (``generator`` for reproducibility).
* ``beam``: transformers' beam search with its defaults, which the official DELLA code uses
  (``model.generate(num_beams=10)``: ``length_penalty=1.0``, ``early_stopping=False``). Per
  sentence ``num_beams`` beams; the latent is shared by a sentence's beams (z is tiled per beam and
  reordered with the beams, like the KV cache). At every step the ``2·num_beams`` best
  continuations are scored; one ending in eos among the first ``num_beams`` becomes a finished
  hypothesis with score ``sum log p / len ** length_penalty``, the others continue. A sentence is
  done when it has ``num_beams`` finished hypotheses and the best candidate of the step, length
  normalised at the current length, cannot beat the worst of them (transformers'
  ``early_stopping=False`` heuristic); at ``max_new_tokens`` the open beams are finalised as
  hypotheses too, and the best-scoring hypothesis is returned. ``length_penalty=1.0`` means
  length-normalised scores (mean log-prob per token); ``0.0`` gives the raw sum.
  Convention: ``len`` counts the GENERATED tokens including the final eos (newer transformers
  versions exclude the prompt for decoder-only models; the version the official code used counted
  the prompt too, which only matters for conditional prompts). With ``num_beams=1`` beam search
  returns exactly the greedy output.
* ``min_new_tokens``: eos is forbidden before that many tokens (the official code passes
  ``min_length = prompt + 3``).
"""
from __future__ import annotations

import torch

from della.models.backbone import KVCache

STRATEGIES = ("greedy", "beam", "sample")


class _Stepper:
    """The running sequences of one batch and the calls to ``decoder_logits``."""

    def __init__(self, model, prompts: list[list[int]], z, pad_id: int, use_cache: bool, device):
        width = max(len(p) for p in prompts)
        self.ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long,
                                device=device)  # [B, P], left-padded
        self.mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long,
                                 device=device)
        self.pos = (self.mask.cumsum(-1) - 1).clamp(min=0)  # [B, P]
        self.model, self.z = model, z
        self.cache = KVCache() if use_cache else None
        self.fed = 0  # tokens already in the cache

    def logits(self) -> torch.Tensor:
        """Next-token logits ``[N, V]`` (float32) for the current sequences."""
        if self.cache is not None:
            start, self.fed = self.fed, self.ids.shape[1]
            out = self.model.decoder_logits(self.ids[:, start:], z=self.z, key_padding=self.mask,
                                            position_ids=self.pos[:, start:], cache=self.cache)
        else:
            out = self.model.decoder_logits(self.ids, z=self.z, key_padding=self.mask, position_ids=self.pos)
        return out[:, -1].float()

    def append(self, tokens: torch.Tensor) -> None:  # tokens [N]
        self.ids = torch.cat([self.ids, tokens[:, None]], 1)
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], 1)
        self.pos = torch.cat([self.pos, self.pos[:, -1:] + 1], 1)

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (beam search: select / tile beams); also the latent and the cache."""
        self.ids, self.mask, self.pos = (t.index_select(0, index) for t in (self.ids, self.mask, self.pos))
        if self.z is not None:
            self.z = self.z.index_select(0, index)
        if self.cache is not None:
            self.cache.reorder(index)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Top-k then nucleus filtering (filtered entries become -inf): ``[N, V] -> [N, V]``."""
    if top_k and top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already hold top_p of the mass (keeps >= 1)
        drop = (probs.cumsum(-1) - probs) >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def generate(model, prompts: list[list[int]], *, z: torch.Tensor | None = None, strategy: str = "greedy",
             num_beams: int = 10, top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0,
             max_new_tokens: int = 50, min_new_tokens: int = 0, eos_id: int, pad_id: int,
             length_penalty: float = 1.0, use_cache: bool = True,
             generator: torch.Generator | None = None) -> list[list[int]]:
    """Continuations of ``prompts`` (lists of ids, e.g. ``[<bos>]`` or ``<bos> source <sep>``).

    ``z`` ``[B, L, d]``: one latent per prompt (latent models; e.g. ``model.sample_prior``).
    Returns B lists of generated ids, without the prompt and without the final eos.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"decoding strategy {strategy!r}; expected one of {STRATEGIES}")
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token (e.g. <bos>)")
    if z is not None and z.shape[0] != len(prompts):
        raise ValueError(f"generate: z has {z.shape[0]} rows for {len(prompts)} prompts")
    was_training = model.training
    model.eval()
    try:
        stepper = _Stepper(model, prompts, z, pad_id, use_cache, model.device)
        if strategy == "beam":
            return _beam_search(stepper, len(prompts), num_beams, max_new_tokens, min_new_tokens, eos_id, pad_id,
                                length_penalty)
        return _greedy_or_sample(stepper, len(prompts), strategy, top_k, top_p, temperature, max_new_tokens,
                                 min_new_tokens, eos_id, pad_id, generator)
    finally:
        model.train(was_training)


def _greedy_or_sample(stepper, batch, strategy, top_k, top_p, temperature, max_new_tokens, min_new_tokens,
                      eos_id, pad_id, generator):
    finished = torch.zeros(batch, dtype=torch.bool, device=stepper.ids.device)
    out: list[list[int]] = [[] for _ in range(batch)]
    for step in range(max_new_tokens):
        logits = stepper.logits()  # [B, V]
        if step < min_new_tokens:
            logits[:, eos_id] = float("-inf")
        if strategy == "greedy":
            tokens = logits.argmax(-1)
        else:
            logits = filter_logits(logits / temperature, top_k, top_p)
            tokens = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
        tokens = tokens.masked_fill(finished, pad_id)
        for i, t in enumerate(tokens.tolist()):
            if not finished[i] and t != eos_id:
                out[i].append(t)
        finished |= tokens == eos_id
        if bool(finished.all()):
            break
        stepper.append(tokens)
    return out


class _Hypotheses:
    """The ``num_beams`` best finished hypotheses of one sentence (transformers' BeamHypotheses)."""

    def __init__(self, num_beams: int, length_penalty: float):
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.items: list[tuple[float, list[int]]] = []

    def score(self, sum_logprobs: float, length: int) -> float:
        return sum_logprobs / (max(length, 1) ** self.length_penalty)

    @property
    def worst(self) -> float:
        return min(s for s, _ in self.items) if self.items else float("inf")

    def add(self, tokens: list[int], sum_logprobs: float, length: int) -> None:
        score = self.score(sum_logprobs, length)
        if len(self.items) < self.num_beams or score > self.worst:
            self.items.append((score, tokens))
            if len(self.items) > self.num_beams:
                self.items.remove(min(self.items, key=lambda item: item[0]))

    def is_done(self, best_sum_logprobs: float, length: int) -> bool:
        """early_stopping=False: no running beam can still beat the worst finished hypothesis."""
        return len(self.items) >= self.num_beams and self.worst >= self.score(best_sum_logprobs, length)

    def best(self) -> list[int]:
        if not self.items:
            return []
        return max(self.items, key=lambda item: item[0])[1]


def _beam_search(stepper, batch, num_beams, max_new_tokens, min_new_tokens, eos_id, pad_id, length_penalty):
    device = stepper.ids.device
    nb = num_beams
    hyps = [_Hypotheses(nb, length_penalty) for _ in range(batch)]
    done = [False] * batch
    # the prompt runs once per sentence; then every row is tiled into its beams
    logits = stepper.logits()  # [B, V]
    tile = torch.arange(batch, device=device).repeat_interleave(nb)
    stepper.reorder(tile)
    logits = logits.index_select(0, tile)  # [B*nb, V]
    beam_scores = torch.zeros(batch, nb, device=device)
    beam_scores[:, 1:] = -1e9  # the first step expands beam 0 only (identical beams otherwise)
    beam_scores = beam_scores.view(-1)
    generated = [[] for _ in range(batch * nb)]  # tokens of each running beam
    for step in range(max_new_tokens):
        if step > 0:
            logits = stepper.logits()
        logp = logits.log_softmax(-1)  # [B*nb, V]
        if step < min_new_tokens:
            logp[:, eos_id] = float("-inf")
        vocab = logp.shape[-1]
        cand = (logp + beam_scores[:, None]).view(batch, nb * vocab)
        top_scores, top_idx = cand.topk(2 * nb, dim=1)  # [B, 2nb]
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        next_scores, next_tokens, next_rows = [], [], []
        for b in range(batch):
            if done[b]:
                next_scores += [0.0] * nb
                next_tokens += [pad_id] * nb
                next_rows += [b * nb] * nb
                continue
            chosen = 0
            for rank, (score, idx) in enumerate(zip(top_scores[b], top_idx[b])):
                row, token = b * nb + idx // vocab, idx % vocab
                if token == eos_id:
                    if rank < nb:  # transformers: an eos beyond the first num_beams is ignored
                        hyps[b].add(list(generated[row]), score, step + 1)
                else:
                    next_scores.append(score)
                    next_tokens.append(token)
                    next_rows.append(row)
                    chosen += 1
                if chosen == nb:
                    break
            done[b] = hyps[b].is_done(max(top_scores[b]), step + 1)
        if all(done):
            break
        rows = torch.tensor(next_rows, device=device)
        stepper.reorder(rows)
        stepper.append(torch.tensor(next_tokens, device=device))
        generated = [generated[r] + [t] for r, t in zip(next_rows, next_tokens)]
        beam_scores = torch.tensor(next_scores, device=device)
    else:  # max_new_tokens reached: the open beams become hypotheses too
        scores = beam_scores.tolist()
        for b in range(batch):
            if not done[b]:
                for i in range(nb):
                    hyps[b].add(generated[b * nb + i], scores[b * nb + i], len(generated[b * nb + i]))
    return [h.best() for h in hyps]
