"""Generated blocks of README.md: ``python -m della.reporting.readme [--results results] [README.md]``
copies ``results/summary.md`` (written by the ``summary`` rule of a finished run) into the README
between ``<!-- results:begin sha256=… -->`` and ``<!-- results:end -->``, its headings two levels down
(the block sits inside the README's Quickstart section).

The stamp is the sha256 of the block as written: ``tests/test_docs.py`` recomputes it, so a number
edited by hand in the block (and no longer the run's) fails the tests. ``replace_block`` serves any
named block (``name``), e.g. a study's claims table.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from della.io import atomic_write_text


def block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"<!-- {re.escape(name)}:begin sha256=(?P<sha>[0-9a-f]*) -->\n(?P<body>.*?)"
                      rf"<!-- {re.escape(name)}:end -->", re.S)


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def demote_headings(markdown: str, levels: int = 1) -> str:
    """``# x`` -> ``## x`` for ``levels=1`` (outside code fences): the block sits under one of the
    README's sections."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" * levels + line if line.startswith("#") and not fenced else line)
    return "\n".join(out) + "\n"


def replace_block(readme, name: str, text: str) -> bool:
    """Put ``text`` between the README's ``name`` markers (which must exist); True when it changed."""
    readme = Path(readme)
    content = readme.read_text(encoding="utf-8")
    pattern = block_pattern(name)
    if not pattern.search(content):
        raise ValueError(f"{readme}: no `<!-- {name}:begin sha256= -->` ... `<!-- {name}:end -->` markers")
    body = text if text.endswith("\n") else text + "\n"
    new = pattern.sub(lambda m: f"<!-- {name}:begin sha256={digest(body)} -->\n{body}<!-- {name}:end -->", content,
                      count=1)
    if new != content:
        atomic_write_text(readme, new, encoding="utf-8")
    return new != content


def check_block(readme, name: str) -> str | None:
    """None when the block's stamp matches its text; else what is wrong."""
    match = block_pattern(name).search(Path(readme).read_text(encoding="utf-8"))
    if match is None:
        return f"no {name} block"
    if match["sha"] != digest(match["body"]):
        return (f"the {name} block was edited by hand (stamp {match['sha']}, text {digest(match['body'])}): "
                "regenerate it with `python -m della.reporting.readme`")
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--results", default="results", help="the results folder of a finished run")
    args = parser.parse_args(argv)
    summary = Path(args.results) / "summary.md"
    if not summary.is_file():
        print(f"no {summary}: run `snakemake --cores 2 all` first", file=sys.stderr)
        return 1
    changed = replace_block(args.readme, "results", demote_headings(summary.read_text(encoding="utf-8"), levels=2))
    print(f"{args.readme}: results block {'updated from' if changed else 'already equal to'} {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
