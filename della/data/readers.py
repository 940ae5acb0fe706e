"""Data layer: the seven DELLA tasks, readers of their upstream file formats,
jsonl I/O, and ``prepare_task`` (README, "Scale": Data).

Every task is read from a *data root* given by the user (``--config
data_root=PATH``); nothing here hard-codes a path.  With no data root,
``prepare_task`` falls back to the offline demo in :mod:`della.data.synthetic`.

Upstream formats (what each reader expects under ``data_root``):

============  ==================================================================
task          files
============  ==================================================================
``yelp``      ``yelp/yelp.{train,valid,test}.txt``: Yang et al. (2017) reviews,
              one a line, ``label<TAB>text`` (the text after the *last* tab).
              Stand-in: ``yelp_sentiment/sentiment.{train,dev,test}.{0,1}``
              (Shen et al. 2017, one sentence a line, file suffix = sentiment).
``yahoo``     ``yahoo/yahoo.{train,valid,test}.txt``: Yang et al. (2017) Yahoo
              Answers, one document a line.
``ptb``       ``ptb/ptb.{train,valid,test}.txt``: Mikolov's PTB
              (simple-examples), one sentence a line.
``snli``      ``snli/snli_1.0_{train,dev,test}.jsonl[.gz]``: the SNLI 1.0
              release; the unique ``sentence1``/``sentence2`` strings of a split.
              Or ``snli/snli.{train,valid,test}.txt``, one sentence a line (what
              ``della.data.download`` writes: the paper's sentences and sizes), read first.
``cnndm``     ``cnndm/{train,val|valid,test}.jsonl`` with fields ``article`` and
              ``highlights`` (the standard release as exported by e.g. Hugging
              Face ``cnn_dailymail``), or ``cnndm/{train,val|valid,test}.
              {source,target}`` line-aligned (the fairseq/BART layout).
``wp``        ``writingprompts/{train,valid,test}.wp_{source,target}``: Fan et
              al. (2018) WritingPrompts, line-aligned; ``<newline>`` marks a
              line break.  Stand-in: ``writingprompts/reference_{ipt,opt}.txt``
              (a WP test subset, via thu-coai/UNION).
``quora``     ``quora/{train,valid,test}.{src,tgt}.txt``: Quora question pairs
              as split by arvind385801/paraphraseGen, line i of ``.src`` is
              paraphrased by line i of ``.tgt``.
============  ==================================================================

Reading rules (shared by all readers):

* files are read as bytes and decoded line by line as strict UTF-8; a line
  that does not decode is a :class:`DataError` naming the file and 1-based line;
* each line is stripped of surrounding whitespace (PTB lines start and end with
  a space); **empty lines are skipped** in single-text files; in line-aligned
  pair files the line counts must match (else :class:`DataError` naming both
  files) and a pair is skipped when either side is empty;
* a split file that yields no examples is a :class:`DataError`;
* WritingPrompts ``<newline>`` markers are kept in the text, normalised to one
  space-separated token (``"a<newline><newline>b"`` -> ``"a <newline> <newline> b"``);
  all other whitespace is kept as-is;
* CNN/DM ``highlights`` (one highlight a line) are joined with single spaces.

Missing splits.  When a data root holds only some splits of a task, the others
are derived *deterministically* (independent of any seed) by hashing each
example's key (the text; the source for conditional tasks, so that all
paraphrases of one question stay in one split) into 1,000 buckets:

* no train (yahoo, snli here): train = 90% of valid, valid = the other 10% of
  valid (a held-out slice, so that validation is not on training data), test =
  test;
* no valid (quora here): valid = a 10% held-out slice of train;
* no test: test = a 10% held-out slice of train;
* only one split (yelp_sentiment, wp references here): 80/10/10 train/valid/test.

Every derivation is recorded in the notes that ``load_task`` returns and that
``prepare_task`` writes to ``info.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from della.data import synthetic
from della.data.tasks import SPLITS, TASKS, Example, TaskSpec  # re-exported: della.data.readers.TASKS etc.


class DataError(ValueError):
    """Bad or missing data.  The message names the file and, where it applies,
    the 1-based line number."""


def _check_task(task: str) -> TaskSpec:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[task]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


# --------------------------------------------------------------------------- #
# Low-level line readers
# --------------------------------------------------------------------------- #


def _raw_lines(path: Path) -> list[str]:
    """All lines of ``path`` (``.gz`` transparently), decoded as strict UTF-8,
    ``\\r\\n`` handled, *not* stripped and *not* filtered.  A missing file or an
    undecodable line is a DataError naming the file (and line)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read: {e}") from e
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of the first line's text
        data = data[3:]
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":  # final newline, not an extra empty line
        parts.pop()
    lines = []
    for i, raw in enumerate(parts, start=1):
        if b"\0" in raw:
            at = raw.index(b"\0")
            raise DataError(f"{path}, line {i}: NUL byte at byte {at} (a binary or corrupted file?)")
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as e:
            raise DataError(f"{path}, line {i}: not valid UTF-8 ({e.reason} at byte {e.start})") from e
    return lines


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-empty line."""
    out = [(i, s.strip()) for i, s in enumerate(_raw_lines(path), start=1)]
    out = [(i, s) for i, s in out if s]
    if not out:
        raise DataError(f"{path}: empty split (no non-empty lines)")
    return out


def _read_single(path: Path) -> list[Example]:
    """One text a line (PTB, Yahoo, Yelp stand-in)."""
    return [Example(target=s) for _, s in _text_lines(path)]


def _read_pairs(src_path: Path, tgt_path: Path, normalise=lambda s: s) -> list[Example]:
    """Line-aligned source/target files (quora, wp, cnndm .source/.target)."""
    src, tgt = _raw_lines(src_path), _raw_lines(tgt_path)
    if len(src) != len(tgt):
        raise DataError(
            f"line-aligned files differ in length: {src_path} has {len(src)} lines, "
            f"{tgt_path} has {len(tgt)} lines"
        )
    out = []
    for s, t in zip(src, tgt):
        s, t = normalise(s.strip()), normalise(t.strip())
        if s and t:
            out.append(Example(target=t, source=s))
    if not out:
        raise DataError(f"{src_path} / {tgt_path}: empty split (no non-empty pairs)")
    return out


def _jsonl_records(path: Path, fields: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, object) for every non-empty line of a jsonl(.gz) file; each
    object must have every name in ``fields`` as a string."""
    out = []
    for i, line in enumerate(_raw_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {i}: malformed JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise DataError(f"{path}, line {i}: expected a JSON object, got {type(obj).__name__}")
        for f in fields:
            if f not in obj:
                raise DataError(f"{path}, line {i}: missing field {f!r}")
            if not isinstance(obj[f], str):
                raise DataError(f"{path}, line {i}: field {f!r} is not a string")
        out.append((i, obj))
    if not out:
        raise DataError(f"{path}: empty split (no JSON lines)")
    return out


# --------------------------------------------------------------------------- #
# Per-task readers.  Each returns ({split: examples or None if absent}, notes).
# --------------------------------------------------------------------------- #


def _first_existing(*paths: Path) -> Path | None:
    for p in paths:
        if p.is_file():
            return p
    return None


# Each task has a *locator* and a *reader*. The locator decides, from which files exist, the files
# each split is read from: ``{split: (layout, *paths) or None if absent}`` (a DataError when the task
# has no data at all). The reader reads exactly those files, and ``task_files`` lists them for the
# data checksums (della/provenance.py), so an unrelated file in a task's folder (a README, an editor
# swap file) is neither read nor a reason to rerun the task.


def _locate_yelp(root: Path) -> dict:
    yang = {s: root / "yelp" / f"yelp.{s}.txt" for s in SPLITS}
    if any(p.is_file() for p in yang.values()):
        return {s: ("yang", p) if p.is_file() else None for s, p in yang.items()}
    shen_dir = root / "yelp_sentiment"
    located = {}
    for s, upstream in (("train", "train"), ("valid", "dev"), ("test", "test")):
        present = [f for f in (shen_dir / f"sentiment.{upstream}.{lab}" for lab in (0, 1)) if f.is_file()]
        located[s] = ("shen", *present) if present else None
    if all(v is None for v in located.values()):
        raise DataError(
            f"yelp: no data found; looked for {yang['train']} (and valid/test) and "
            f"{shen_dir / 'sentiment.train.0'} (and dev/test, .0/.1)"
        )
    return located


def _read_yelp(root: Path):
    """Yang et al. (2017) Yelp (``yelp/yelp.{split}.txt``, ``label\\ttext``);
    falling back to the Shen et al. (2017) sentiment files in
    ``yelp_sentiment/sentiment.{train,dev,test}.{0,1}`` (negative / positive)."""
    splits = {}
    for s, spec in _locate_yelp(root).items():
        if spec is None:
            splits[s] = None
        elif spec[0] == "yang":
            p = spec[1]
            exs = []
            for i, line in _text_lines(p):
                if "\t" not in line:
                    raise DataError(f"{p}, line {i}: expected 'label<TAB>text', found no tab")
                text = line.rsplit("\t", 1)[1].strip()
                if text:
                    exs.append(Example(target=text))
            if not exs:
                raise DataError(f"{p}: empty split (no review text)")
            splits[s] = exs
        else:
            splits[s] = [ex for f in spec[1:] for ex in _read_single(f)]
    if any(spec is not None and spec[0] == "yang" for spec in _locate_yelp(root).values()):
        return splits, []
    return splits, ["yelp: read the Shen et al. (2017) sentiment stand-in in yelp_sentiment/ "
                    "(one sentence a line), not the Yang et al. (2017) review files"]


def _locate_single_task(root: Path, folder: str, stem: str) -> dict:
    paths = {s: root / folder / f"{stem}.{s}.txt" for s in SPLITS}
    if not any(p.is_file() for p in paths.values()):
        raise DataError(f"{stem}: no data found; looked for {', '.join(str(p) for p in paths.values())}")
    return {s: ("lines", p) if p.is_file() else None for s, p in paths.items()}


def _read_single_task(root: Path, folder: str, stem: str):
    """``folder/stem.{train,valid,test}.txt`` (yahoo, ptb)."""
    return {s: (_read_single(spec[1]) if spec else None)
            for s, spec in _locate_single_task(root, folder, stem).items()}, []


def _locate_snli(root: Path) -> dict:
    located, looked = {}, []
    for s, upstream in (("train", "train"), ("valid", "dev"), ("test", "test")):
        sentences = root / "snli" / f"snli.{s}.txt"  # the paper's sentences (della/data/download.py)
        base = root / "snli" / f"snli_1.0_{upstream}.jsonl"
        gz = base.with_name(base.name + ".gz")
        looked += [sentences, base, gz]
        if sentences.is_file():
            located[s] = ("lines", sentences)
        else:
            p = _first_existing(base, gz)
            located[s] = ("jsonl", p) if p is not None else None
    if all(v is None for v in located.values()):
        raise DataError(f"snli: no data found; looked for {', '.join(map(str, looked))}")
    return located


def _read_snli(root: Path):
    """SNLI 1.0 (``snli/snli_1.0_{train,dev,test}.jsonl[.gz]``): the unique
    ``sentence1`` and ``sentence2`` strings of each split, in order of first
    appearance; a split's ``snli/snli.{split}.txt`` (one sentence a line, as the
    download writes it) is read instead when present."""
    splits = {}
    for s, spec in _locate_snli(root).items():
        if spec is None:
            splits[s] = None
            continue
        if spec[0] == "lines":
            splits[s] = _read_single(spec[1])
            continue
        seen: dict[str, None] = {}
        for _, obj in _jsonl_records(spec[1], ("sentence1", "sentence2")):
            for key in ("sentence1", "sentence2"):
                text = obj[key].strip()
                if text:
                    seen.setdefault(text, None)
        splits[s] = [Example(target=t) for t in seen]
    return splits, []


def _locate_cnndm(root: Path) -> dict:
    d = root / "cnndm"
    located, looked = {}, []
    for s in SPLITS:
        names = ["val", "valid"] if s == "valid" else [s]
        js = _first_existing(*[d / f"{n}.jsonl" for n in names], *[d / f"{n}.jsonl.gz" for n in names])
        pair = next(((d / f"{n}.source", d / f"{n}.target") for n in names
                     if (d / f"{n}.source").is_file() or (d / f"{n}.target").is_file()), None)
        looked += [d / f"{names[0]}.jsonl", d / f"{names[0]}.source"]
        located[s] = ("jsonl", js) if js is not None else (("pairs", *pair) if pair is not None else None)
    if all(v is None for v in located.values()):
        raise DataError(f"cnndm: no data found; looked for {', '.join(map(str, looked))} (and val/valid variants)")
    return located


def _read_cnndm(root: Path):
    """CNN/DailyMail: ``cnndm/{split}.jsonl`` (fields ``article``/``highlights``)
    or ``cnndm/{split}.{source,target}`` line-aligned; valid may be named
    ``val`` or ``valid``."""
    splits = {}
    for s, spec in _locate_cnndm(root).items():
        if spec is None:
            splits[s] = None
        elif spec[0] == "jsonl":
            js = spec[1]
            splits[s] = [
                Example(target=" ".join(obj["highlights"].split("\n")).strip(), source=obj["article"].strip())
                for _, obj in _jsonl_records(js, ("article", "highlights"))
            ]
            splits[s] = [e for e in splits[s] if e.source and e.target]
            if not splits[s]:
                raise DataError(f"{js}: empty split (no non-empty article/highlights)")
        else:
            splits[s] = _read_pairs(*spec[1:])
    return splits, []


_NEWLINE_RE = re.compile(r"\s*<newline>\s*")
_BETWEEN_NEWLINES_RE = re.compile(r"<newline>\s+(?=<newline>)")


def normalise_wp(text: str) -> str:
    """Put every WritingPrompts ``<newline>`` marker as one space-separated
    token; leave the rest of the text untouched."""
    text = _NEWLINE_RE.sub(" <newline> ", text)
    return _BETWEEN_NEWLINES_RE.sub("<newline> ", text).strip()


def _locate_wp(root: Path) -> dict:
    d = root / "writingprompts"
    located = {}
    for s in SPLITS:
        src, tgt = d / f"{s}.wp_source", d / f"{s}.wp_target"
        located[s] = ("pairs", src, tgt) if (src.is_file() or tgt.is_file()) else None
    if any(v is not None for v in located.values()):
        return located
    ipt, opt = d / "reference_ipt.txt", d / "reference_opt.txt"
    if ipt.is_file() or opt.is_file():
        return {"train": None, "valid": None, "test": ("reference", ipt, opt)}
    raise DataError(f"wp: no data found; looked for {d / 'train.wp_source'} (and valid/test, .wp_target) and {ipt}")


def _read_wp(root: Path):
    """WritingPrompts (Fan et al. 2018): ``writingprompts/{split}.wp_source`` /
    ``.wp_target``; stand-in ``reference_ipt.txt`` / ``reference_opt.txt``."""
    located = _locate_wp(root)
    splits = {s: (_read_pairs(*spec[1:], normalise_wp) if spec else None) for s, spec in located.items()}
    if located["test"] is not None and located["test"][0] == "reference":
        return splits, [
            "wp: read the reference_ipt/reference_opt stand-in (a WritingPrompts test subset via "
            "thu-coai/UNION); it has no <newline> tokens, paragraph breaks appear as runs of spaces, kept as-is"
        ]
    return splits, []


def _locate_quora(root: Path) -> dict:
    d = root / "quora"
    located = {}
    for s in SPLITS:
        src, tgt = d / f"{s}.src.txt", d / f"{s}.tgt.txt"
        located[s] = ("pairs", src, tgt) if (src.is_file() or tgt.is_file()) else None
    if all(v is None for v in located.values()):
        raise DataError(f"quora: no data found; looked for {d / 'train.src.txt'} (and valid/test, .tgt.txt)")
    return located


def _read_quora(root: Path):
    """Quora paraphrase pairs: ``quora/{split}.src.txt`` -> ``{split}.tgt.txt``."""
    return {s: (_read_pairs(*spec[1:]) if spec else None) for s, spec in _locate_quora(root).items()}, []


_READERS = {
    "yelp": _read_yelp,
    "yahoo": lambda root: _read_single_task(root, "yahoo", "yahoo"),
    "ptb": lambda root: _read_single_task(root, "ptb", "ptb"),
    "snli": _read_snli,
    "cnndm": _read_cnndm,
    "wp": _read_wp,
    "quora": _read_quora,
}
_LOCATORS = {
    "yelp": _locate_yelp,
    "yahoo": lambda root: _locate_single_task(root, "yahoo", "yahoo"),
    "ptb": lambda root: _locate_single_task(root, "ptb", "ptb"),
    "snli": _locate_snli,
    "cnndm": _locate_cnndm,
    "wp": _locate_wp,
    "quora": _locate_quora,
}


def task_files(task: str, data_root: str | Path) -> list[Path]:
    """The upstream files ``load_task`` reads for ``task`` under ``data_root`` (what the data
    checksums cover); empty when the task has no data there (reading it is then the error)."""
    _check_task(task)
    try:
        located = _LOCATORS[task](Path(data_root))
    except DataError:
        return []
    return sorted({p for spec in located.values() if spec for p in spec[1:] if p.is_file()})


# --------------------------------------------------------------------------- #
# Deterministic derivation of missing splits
# --------------------------------------------------------------------------- #


def _bucket(ex: Example) -> int:
    """A stable bucket in [0, 1000) from the example's key (source if any)."""
    key = ex.source if ex.source is not None else ex.target
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") % 1000


def _cut(exs: list[Example], *fractions: float) -> list[list[Example]]:
    """Split ``exs`` into len(fractions) parts by hash bucket, keeping file order."""
    edges, acc = [], 0.0
    for f in fractions:
        acc += f
        edges.append(round(acc * 1000))
    parts: list[list[Example]] = [[] for _ in fractions]
    for e in exs:
        b = _bucket(e)
        parts[next(k for k, edge in enumerate(edges) if b < edge or k == len(edges) - 1)].append(e)
    return parts


def _fill_missing(task: str, splits: dict, notes: list[str], where: str) -> dict[str, list[Example]]:
    present = [s for s in SPLITS if splits.get(s) is not None]
    missing = [s for s in SPLITS if s not in present]
    out = dict(splits)
    if not missing:
        pass
    elif len(present) == 1:
        (only,) = present
        out["train"], out["valid"], out["test"] = _cut(splits[only], 0.8, 0.1, 0.1)
        notes.append(f"{task}: only a {only} split in {where}; derived train/valid/test from it by a "
                     f"deterministic 80/10/10 hash split")
    elif missing == ["train"]:
        out["train"], out["valid"] = _cut(splits["valid"], 0.9, 0.1)
        notes.append(f"{task}: no train split in {where}, trained on valid: train = 90% of valid, valid = "
                     f"the other 10% of valid (deterministic hash split, held out from training), test = test")
    elif missing == ["valid"]:
        out["train"], out["valid"] = _cut(splits["train"], 0.9, 0.1)
        notes.append(f"{task}: no valid split in {where}; valid = a deterministic 10% hash slice held out of "
                     f"train, train = the other 90%")
    elif missing == ["test"]:
        out["train"], out["test"] = _cut(splits["train"], 0.9, 0.1)
        notes.append(f"{task}: no test split in {where}; test = a deterministic 10% hash slice held out of "
                     f"train, train = the other 90%")
    if task == "snli" and missing:
        test = {e.target for e in out["test"]}
        for s in ("train", "valid"):
            before = len(out[s])
            out[s] = [e for e in out[s] if e.target not in test]
            if len(out[s]) != before:
                notes.append(f"snli: dropped {before - len(out[s])} {s} sentences that also occur in test")
    for s in SPLITS:
        if not out[s]:
            raise DataError(f"{task}: split {s!r} is empty after deriving missing splits from {where}")
    return out


# --------------------------------------------------------------------------- #
# Public readers
# --------------------------------------------------------------------------- #


def load_task(task: str, data_root: str | Path, shown_as: str | None = None
              ) -> tuple[dict[str, list[Example]], list[str]]:
    """All three splits of ``task`` from ``data_root`` plus the notes saying
    which stand-ins were read and how missing splits were derived. The notes name the data root
    as ``shown_as`` (default: the path as given): they go into info.json and the tables, where an
    absolute path has no place (della/paths.py ``shown_path``)."""
    _check_task(task)
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: data root not found (not a directory)")
    splits, notes = _READERS[task](root)
    notes = list(notes)
    return _fill_missing(task, splits, notes, shown_as or str(root)), notes


def read_task(task: str, data_root: str | Path, split: str) -> list[Example]:
    """The ``split`` ("train" | "valid" | "test") of ``task`` read from the
    upstream files under ``data_root`` (see the module docstring)."""
    _check_split(split)
    return load_task(task, data_root)[0][split]


# --------------------------------------------------------------------------- #
# jsonl I/O
# --------------------------------------------------------------------------- #


def _dump_jsonl(examples, fh) -> int:
    n = 0
    for e in examples:
        fh.write(json.dumps({"target": e.target, "source": e.source, "factors": e.factors}, ensure_ascii=False))
        fh.write("\n")
        n += 1
    return n


def _temp_in(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    # mkstemp creates the file 0600; the prepared data is an ordinary output: 0666 minus the umask
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def write_jsonl(examples, path: str | Path) -> Path:
    """Write ``examples`` one JSON object a line ({"target","source","factors"}),
    atomically (temp file in the same folder, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_in(path.parent, path.name)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            _dump_jsonl(examples, fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_jsonl(path: str | Path) -> list[Example]:
    """Read a file written by :func:`write_jsonl`.  Blank lines are skipped;
    anything else malformed is a DataError naming the file and line."""
    path = Path(path)
    out = []
    for i, obj in _jsonl_records(path, ("target",)):
        source, factors = obj.get("source"), obj.get("factors", {})
        if source is not None and not isinstance(source, str):
            raise DataError(f"{path}, line {i}: field 'source' must be a string or null")
        if not isinstance(factors, dict):
            raise DataError(f"{path}, line {i}: field 'factors' must be an object")
        out.append(Example(target=obj["target"], source=source, factors=factors))
    return out


# --------------------------------------------------------------------------- #
# prepare_task
# --------------------------------------------------------------------------- #


def _subsample(exs: list[Example], n: int, seed: int, split: str) -> list[Example]:
    """A seeded random sample of ``n`` examples, kept in their original order
    (a plain first-N would be biased for files sorted by label, e.g. Yelp)."""
    if n >= len(exs):
        return exs
    rng = random.Random(f"della-subsample:{split}:{seed}")
    keep = sorted(rng.sample(range(len(exs)), n))
    return [exs[i] for i in keep]


#: the folder(s) under a data root that hold each task's files (the readers above)
TASK_FOLDERS = {"yelp": ("yelp", "yelp_sentiment"), "yahoo": ("yahoo",), "ptb": ("ptb",), "snli": ("snli",),
                "cnndm": ("cnndm",), "wp": ("writingprompts",), "quora": ("quora",)}

#: the files each reader reads first (the paper's data set) and, where a reader has one, the stand-in data
#: set it falls back to (glob patterns under data_root; the readers above are the reference)
TASK_FILES = {
    "yelp": {"real": ["yelp/yelp.*.txt"], "stand-in": ["yelp_sentiment/sentiment.*.[01]"]},
    "yahoo": {"real": ["yahoo/yahoo.*.txt"]},
    "ptb": {"real": ["ptb/ptb.*.txt"]},
    "snli": {"real": ["snli/snli.*.txt", "snli/snli_1.0_*.jsonl", "snli/snli_1.0_*.jsonl.gz"]},
    "cnndm": {"real": ["cnndm/*.jsonl", "cnndm/*.jsonl.gz", "cnndm/*.source", "cnndm/*.target"]},
    "wp": {"real": ["writingprompts/*.wp_source", "writingprompts/*.wp_target"],
           "stand-in": ["writingprompts/reference_ipt.txt", "writingprompts/reference_opt.txt"]},
    "quora": {"real": ["quora/*.src.txt", "quora/*.tgt.txt"]},
}
STAND_IN_DATA_SETS = {  # what a task's stand-in data set is (the readers' notes say the same)
    "yelp": "the Shen et al. (2017) Yelp sentiment sentences, not the Yang et al. (2017) reviews",
    "wp": "a 311-pair WritingPrompts test subset (thu-coai/UNION reference files)",
}

#: ``data_kind`` in info.json (and the mark every table row of the task carries, ``tables.task_label``)
REAL, STAND_IN, SYNTHETIC_STAND_IN, SYNTHETIC = "real", "stand-in data set", "synthetic stand-in", "synthetic twin"


@dataclass(frozen=True)
class DataLocation:
    """What ``prepare_task`` will read for a task under a data root (``locate_task``)."""
    task: str
    kind: str  # REAL | STAND_IN | "missing" (no file of the task) | SYNTHETIC (no data root)
    files: tuple[str, ...]  # relative to data_root
    looked_for: tuple[str, ...]  # the patterns tried

    def describe(self, data_root) -> str:
        if self.kind == SYNTHETIC:
            return "synthetic twin (offline demo: data_root is null)"
        folders = sorted({f.split("/")[0] for f in self.files})
        where = ", ".join(f"{Path(str(data_root)) / folder}/" for folder in folders)
        if self.kind == REAL:
            return f"real data ({where}: {len(self.files)} files)"
        if self.kind == STAND_IN:
            return f"STAND-IN data set ({where}: {STAND_IN_DATA_SETS[self.task]})"
        return f"no data under {data_root} (looked for {', '.join(self.looked_for)})"


def locate_task(task: str, data_root) -> DataLocation:
    """Which files of ``task`` exist under ``data_root`` and what they are: the paper's data set
    (``real``), the reader's stand-in data set (yelp, wp), or nothing (``missing``). Checked at
    start-up (della/config.py ``check_data``), before any job runs."""
    _check_task(task)
    if data_root is None:
        return DataLocation(task, SYNTHETIC, (), ())
    root = Path(data_root)
    looked = []
    for kind in ("real", "stand-in"):
        patterns = TASK_FILES[task].get(kind, [])
        looked += patterns
        found = sorted({str(p.relative_to(root)) for pattern in patterns for p in root.glob(pattern) if p.is_file()})
        if found:
            return DataLocation(task, REAL if kind == "real" else STAND_IN, tuple(found), tuple(looked))
    return DataLocation(task, "missing", (), tuple(looked))


def missing_policy(missing, task: str) -> str:
    """``data.missing`` for one task: ``synthetic`` when the config opts this task in
    (``data.missing: {cnndm: synthetic}``), else ``error``."""
    if missing is None:
        return "error"
    if not isinstance(missing, dict):
        raise ValueError(f"data.missing must name tasks (e.g. {{cnndm: synthetic}}), got {missing!r}")
    return missing.get(task, "error")


def prepare_task(
    task: str,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    seed: int = 0,
    max_examples: dict[str, int] | None = None,
    synthetic_sizes: dict[str, int] | None = None,
    missing: dict[str, str] | None = None,
    data_root_shown: str | None = None,
) -> dict[str, Path]:
    """Write ``out_dir/{train,valid,test}.jsonl`` and ``out_dir/info.json`` for
    ``task`` and return ``{"train": path, "valid": path, "test": path, "info": path}``.

    ``data_root=None`` makes the offline synthetic twin (:mod:`della.data.synthetic`,
    ``synthetic_sizes``, ``seed``), whose ``info.json`` also states ``factor_entropy_nats`` and
    ``factors`` (:func:`della.data.synthetic.factor_info`), the texts' exact entropy
    (``text_entropy_nats``, :func:`della.data.synthetic.text_entropy`) and the exact log p of every
    test example (``log_p_true["test"]``, file order); otherwise the real files are read with
    :func:`load_task`.  ``max_examples[split]`` caps a split by a *seeded random
    sample* (``seed``) that keeps the original order.

    All data is read and checked first; the four files are then written to
    temporary names in ``out_dir`` and renamed into place.  On any error every
    temporary file is removed and no output file is created or changed (an
    ``out_dir`` created by this call is removed again if left empty).

    ``missing={task: "synthetic"}`` (config ``data.missing``, per task): a task
    with no file under ``data_root`` (e.g. no CNN/DailyMail copy) gets its
    synthetic twin as a stand-in, marked in info.json (``data_kind: synthetic
    stand-in``, ``source: synthetic``, ``stand_in_for``, a note) so that every
    table row flags it; any other task with no file is an error naming the
    files looked for (start-up refuses it first: della/config.py ``check_data``).
    ``info.json``'s ``data_kind`` says what the task is: ``real``, ``stand-in
    data set`` (yelp, wp: the readers' fallbacks), ``synthetic stand-in`` or
    ``synthetic twin`` (no data root).

    ``data_root_shown``: how info.json (``source``, ``stand_in_for``, the notes) names the data root,
    never an absolute path (default: the folder's name; the workflow passes della/paths.py
    ``shown_path``, the path relative to the project root): results of two checkouts are the same
    bytes.
    """
    spec = _check_task(task)
    # a None cap means "the whole split" (how the YAML configs say it)
    max_examples = {k: v for k, v in (max_examples or {}).items() if v is not None}
    for k, v in max_examples.items():
        _check_split(k)
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"max_examples[{k!r}] must be a positive int, got {v!r}")

    policy = missing_policy(missing, task)
    if policy not in ("error", "synthetic"):
        raise ValueError(f"data.missing.{task} must be 'synthetic' (or absent), got {policy!r}")
    location = locate_task(task, data_root)
    stand_in = location.kind == "missing" and policy == "synthetic"
    shown = None if data_root is None else (data_root_shown or Path(data_root).name)
    if data_root is None or stand_in:
        splits = synthetic.generate_task(task, synthetic_sizes, seed=seed)
        files = {}
        notes = ["synthetic offline demo data (della.data.synthetic): not the real task"]
        if stand_in:
            notes.insert(0, f"STAND-IN: no file of {task} under {shown}; its synthetic twin stands in for all "
                            f"three splits (data.missing: {{{task}: synthetic}})")
        source = "synthetic"
        data_kind = SYNTHETIC_STAND_IN if stand_in else SYNTHETIC
    else:
        from della.provenance import data_checksums

        splits, notes = load_task(task, data_root, shown_as=shown)
        source = shown
        files = data_checksums(data_root, task_files(task, data_root))
        data_kind = location.kind if location.kind in (REAL, STAND_IN) else REAL

    available = {s: len(splits[s]) for s in SPLITS}
    final = {s: _subsample(splits[s], max_examples[s], seed, s) if s in max_examples else splits[s]
             for s in SPLITS}
    info = {
        "task": task,
        "kind": spec.kind,
        "conditional": spec.conditional,
        "source": source,
        "data_kind": data_kind,
        "seed": seed,
        "counts": {s: len(final[s]) for s in SPLITS},
        "available": available,
        "max_examples": max_examples,
        "truncation": "seeded random sample (seed), original order kept" if max_examples else "none",
        "notes": notes,
        "files": files,  # sha256 of each upstream file under data_root (a change reruns the task)
    }
    if stand_in:
        info["stand_in_for"] = shown
    if data_root is None or stand_in:  # H(factors) = the KL an ideal model reaches, and each factor (della.data.synthetic)
        info.update(synthetic.factor_info(task))
        # the texts' exact entropy (the floor of every NLL / PPL cell) and each test example's exact log p
        # (conditional: of the target given the source), in file order
        info.update(synthetic.text_entropy(task))
        info["log_p_true"] = {"test": [ex.log_p_true for ex in final["test"]]}

    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {s: out_dir / f"{s}.jsonl" for s in SPLITS}
    targets["info"] = out_dir / "info.json"
    temps: dict[str, Path] = {}
    try:
        for s in SPLITS:
            temps[s] = _temp_in(out_dir, f"{s}.jsonl")
            with open(temps[s], "w", encoding="utf-8") as fh:
                _dump_jsonl(final[s], fh)
        temps["info"] = _temp_in(out_dir, "info.json")
        temps["info"].write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for k, tmp in temps.items():
            os.replace(tmp, targets[k])
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if created:
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raise
    return targets
