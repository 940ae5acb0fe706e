"""Tests of della.data.readers: real-data readers (when DELLA_DATA is set), fixture
tests of every upstream format and error case, jsonl I/O and prepare_task."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from della.data import readers as D
from della.data.readers import SPLITS, TASKS, DataError, Example, load_task, prepare_task, read_jsonl, read_task, write_jsonl

# --------------------------------------------------------------------------- #
# Real data (DELLA_DATA=/path/to/data_root)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = os.environ.get("DELLA_DATA")
    if not root:
        pytest.skip("DELLA_DATA is not set: real-data readers not tested")
    return Path(root)


@pytest.mark.parametrize("task", ["yelp", "yahoo", "ptb", "snli", "wp", "quora"])
def test_real_read_task_all_splits(data_root, task):
    spec = TASKS[task]
    got = {s: read_task(task, data_root, s) for s in SPLITS}
    for s, exs in got.items():
        assert exs, f"{task}/{s} is empty"
        assert all(isinstance(e, Example) and e.target and e.factors == {} for e in exs)
        if spec.conditional:
            assert all(e.source for e in exs), f"{task}/{s}: conditional examples need sources"
        else:
            assert all(e.source is None for e in exs)
    # train must not overlap the held-out test data for derived splits either
    assert len(got["train"]) > len(got["valid"])


def test_real_counts(data_root):
    n = {t: {s: len(v) for s, v in load_task(t, data_root)[0].items()} for t in ["ptb", "yahoo", "quora", "yelp", "wp", "snli"]}
    assert n["ptb"] == {"train": 42068, "valid": 3370, "test": 3761}
    assert n["yahoo"]["test"] == 10000 and n["yahoo"]["train"] + n["yahoo"]["valid"] == 10000
    assert 8500 < n["yahoo"]["train"] < 9500
    assert n["quora"]["test"] == 4000 and n["quora"]["train"] + n["quora"]["valid"] == 50000
    assert sum(n["yelp"].values()) == 63483
    assert sum(n["wp"].values()) == 312
    assert n["snli"]["test"] == 13132  # unique sentence1/sentence2 strings of the test file
    assert n["snli"]["train"] > 10000


def test_real_notes_and_sources(data_root):
    _, notes = load_task("yahoo", data_root)
    assert any("no train split" in n and "trained on valid" in n for n in notes)
    _, notes = load_task("quora", data_root)
    assert any("no valid split" in n for n in notes)
    _, notes = load_task("ptb", data_root)
    assert notes == []
    splits, _ = load_task("snli", data_root)
    test = {e.target for e in splits["test"]}
    assert not test & {e.target for e in splits["train"]}
    assert not test & {e.target for e in splits["valid"]}


def test_real_deterministic(data_root):
    a = read_task("quora", data_root, "valid")
    b = read_task("quora", data_root, "valid")
    assert a == b


# --------------------------------------------------------------------------- #
# Fixture helpers
# --------------------------------------------------------------------------- #


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def make_ptb(root: Path, n: int = 30) -> None:
    for s in SPLITS:
        write(root / "ptb" / f"ptb.{s}.txt", "".join(f" {s} sentence number {i} \n" for i in range(n)))


def cnndm_jsonl(root: Path, valid_name: str = "val") -> None:
    for s, name in (("train", "train"), ("valid", valid_name), ("test", "test")):
        lines = [json.dumps({"article": f"{s} article {i} . more text .", "highlights": f"{s} fact {i} .\nsecond fact ."})
                 for i in range(4)]
        write(root / "cnndm" / f"{name}.jsonl", "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- #
# Formats
# --------------------------------------------------------------------------- #


def test_registry():
    assert set(TASKS) == {"yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora"}
    assert [t for t, s in TASKS.items() if s.conditional] == ["cnndm", "wp", "quora"]
    assert TASKS["cnndm"].kind == "summarisation" and TASKS["wp"].kind == "story"
    assert TASKS["quora"].kind == "paraphrase" and TASKS["ptb"].kind == "unconditional"


@pytest.mark.parametrize("valid_name", ["val", "valid"])
def test_cnndm_jsonl(tmp_path, valid_name):
    cnndm_jsonl(tmp_path, valid_name)
    for s in SPLITS:
        exs = read_task("cnndm", tmp_path, s)
        assert len(exs) == 4
        assert exs[0].source == f"{s} article 0 . more text ."
        assert exs[0].target == f"{s} fact 0 . second fact ."  # highlight lines joined by a space


def test_cnndm_source_target(tmp_path):
    for s, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        write(tmp_path / "cnndm" / f"{name}.source", "article one .\narticle two .\n")
        write(tmp_path / "cnndm" / f"{name}.target", "summary one .\nsummary two .\n")
    exs = read_task("cnndm", tmp_path, "valid")
    assert exs == [Example("summary one .", "article one ."), Example("summary two .", "article two .")]


def test_ptb_strips_and_skips_empty_lines(tmp_path):
    make_ptb(tmp_path)
    write(tmp_path / "ptb" / "ptb.valid.txt", " a b \n\n   \r\n c d \r\n")
    assert [e.target for e in read_task("ptb", tmp_path, "valid")] == ["a b", "c d"]
    assert len(read_task("ptb", tmp_path, "train")) == 30


def test_yelp_yang_format_last_tab(tmp_path):
    for s in SPLITS:
        write(tmp_path / "yelp" / f"yelp.{s}.txt", "4\tgreat food .\n1\tx\tterrible\tservice .\n")
    assert [e.target for e in read_task("yelp", tmp_path, "test")] == ["great food .", "service ."]


def test_yelp_no_tab_is_error(tmp_path):
    for s in SPLITS:
        write(tmp_path / "yelp" / f"yelp.{s}.txt", "4\tok .\nno tab here\n")
    with pytest.raises(DataError, match=r"yelp\.train\.txt, line 2"):
        read_task("yelp", tmp_path, "train")


def test_yelp_sentiment_standin_derives_splits(tmp_path):
    write(tmp_path / "yelp_sentiment" / "sentiment.dev.0", "".join(f"bad {i} .\n" for i in range(200)))
    write(tmp_path / "yelp_sentiment" / "sentiment.dev.1", "".join(f"good {i} .\n" for i in range(200)))
    splits, notes = load_task("yelp", tmp_path)
    assert sum(len(v) for v in splits.values()) == 400
    assert 280 < len(splits["train"]) < 360
    assert any("only a valid split" in n and "80/10/10" in n for n in notes)
    all_t = [e.target for v in splits.values() for e in v]
    assert len(set(all_t)) == 400  # a partition, no example in two splits
    assert {t.split()[0] for t in (e.target for e in splits["test"])} == {"bad", "good"}


def test_yahoo_no_train(tmp_path):
    for s in ("valid", "test"):
        write(tmp_path / "yahoo" / f"yahoo.{s}.txt", "".join(f"{s} doc {i} .\n" for i in range(300)))
    splits, notes = load_task("yahoo", tmp_path)
    assert len(splits["test"]) == 300
    assert len(splits["train"]) + len(splits["valid"]) == 300 and len(splits["valid"]) > 10
    assert not {e.target for e in splits["train"]} & {e.target for e in splits["valid"]}
    assert any("no train split" in n for n in notes)


def test_snli_gz_unique_and_plain(tmp_path):
    rows = [{"sentence1": "A man sleeps.", "sentence2": "A person rests."},
            {"sentence1": "A man sleeps.", "sentence2": "Nobody sleeps."}]
    body = "".join(json.dumps(r) + "\n" for r in rows)
    write(tmp_path / "snli" / "snli_1.0_train.jsonl.gz", gzip.compress(body.encode()))
    write(tmp_path / "snli" / "snli_1.0_dev.jsonl", body)
    write(tmp_path / "snli" / "snli_1.0_test.jsonl", json.dumps({"sentence1": "X.", "sentence2": "Y."}) + "\n")
    assert [e.target for e in read_task("snli", tmp_path, "train")] == ["A man sleeps.", "A person rests.", "Nobody sleeps."]
    assert len(read_task("snli", tmp_path, "valid")) == 3


def test_wp_newline_normalised(tmp_path):
    for s in SPLITS:
        write(tmp_path / "writingprompts" / f"{s}.wp_source", "[ WP ] a prompt\n")
        write(tmp_path / "writingprompts" / f"{s}.wp_target", "first line .<newline><newline>  second .<newline>\n")
    (ex,) = read_task("wp", tmp_path, "valid")
    assert ex.source == "[ WP ] a prompt"
    assert ex.target == "first line . <newline> <newline> second . <newline>"


def test_quora_derives_valid(tmp_path):
    for s in ("train", "test"):
        write(tmp_path / "quora" / f"{s}.src.txt", "".join(f"q {s} {i} ?\n" for i in range(200)))
        write(tmp_path / "quora" / f"{s}.tgt.txt", "".join(f"p {s} {i} ?\n" for i in range(200)))
    splits, notes = load_task("quora", tmp_path)
    assert len(splits["train"]) + len(splits["valid"]) == 200 and len(splits["valid"]) > 5
    assert all(e.source.replace("q", "p", 1) == e.target for e in splits["valid"])
    assert any("no valid split" in n for n in notes)


def test_bad_task_and_split(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        read_task("imdb", tmp_path, "train")
    make_ptb(tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        read_task("ptb", tmp_path, "dev")


# --------------------------------------------------------------------------- #
# Errors: each names the file (and line)
# --------------------------------------------------------------------------- #


def test_missing_everything_names_path(tmp_path):
    with pytest.raises(DataError, match=r"ptb\.train\.txt"):
        read_task("ptb", tmp_path, "train")
    with pytest.raises(DataError, match=r"cnndm.*train\.jsonl"):
        read_task("cnndm", tmp_path, "train")
    with pytest.raises(DataError, match="data root not found"):
        read_task("ptb", tmp_path / "nope", "train")


def test_missing_half_of_pair(tmp_path):
    write(tmp_path / "quora" / "train.src.txt", "a ?\n")
    with pytest.raises(DataError, match=r"train\.tgt\.txt: file not found"):
        read_task("quora", tmp_path, "train")


def test_empty_split(tmp_path):
    make_ptb(tmp_path)
    write(tmp_path / "ptb" / "ptb.test.txt", "\n  \n\n")
    with pytest.raises(DataError, match=r"ptb\.test\.txt: empty split"):
        read_task("ptb", tmp_path, "train")


def test_bad_utf8_names_line(tmp_path):
    make_ptb(tmp_path)
    write(tmp_path / "ptb" / "ptb.valid.txt", b"ok one\nok two\nbad \xff\xfe here\nok\n")
    with pytest.raises(DataError, match=r"ptb\.valid\.txt, line 3: not valid UTF-8"):
        read_task("ptb", tmp_path, "valid")


def test_malformed_json_names_line(tmp_path):
    good = json.dumps({"sentence1": "a.", "sentence2": "b."})
    write(tmp_path / "snli" / "snli_1.0_dev.jsonl", f"{good}\n{good}\n{{not json\n")
    write(tmp_path / "snli" / "snli_1.0_test.jsonl", f"{good}\n")
    with pytest.raises(DataError, match=r"snli_1\.0_dev\.jsonl, line 3: malformed JSON"):
        read_task("snli", tmp_path, "test")


def test_missing_field_names_line(tmp_path):
    good = json.dumps({"sentence1": "a.", "sentence2": "b."})
    write(tmp_path / "snli" / "snli_1.0_test.jsonl", f"{good}\n" + json.dumps({"sentence1": "c."}) + "\n")
    with pytest.raises(DataError, match=r"snli_1\.0_test\.jsonl, line 2: missing field 'sentence2'"):
        read_task("snli", tmp_path, "test")
    cnndm_jsonl(tmp_path)
    write(tmp_path / "cnndm" / "test.jsonl", json.dumps({"article": "x"}) + "\n")
    with pytest.raises(DataError, match=r"test\.jsonl, line 1: missing field 'highlights'"):
        read_task("cnndm", tmp_path, "train")


def test_misaligned_pairs_name_both_files(tmp_path):
    write(tmp_path / "quora" / "train.src.txt", "a ?\nb ?\nc ?\n")
    write(tmp_path / "quora" / "train.tgt.txt", "a2 ?\nb2 ?\n")
    with pytest.raises(DataError) as e:
        read_task("quora", tmp_path, "train")
    assert "train.src.txt has 3 lines" in str(e.value) and "train.tgt.txt has 2 lines" in str(e.value)


# --------------------------------------------------------------------------- #
# jsonl I/O
# --------------------------------------------------------------------------- #


def test_jsonl_round_trip(tmp_path):
    exs = [Example("t é \n x", "s", {"a": 1, "b": "x"}), Example("only target")]
    p = write_jsonl(exs, tmp_path / "sub" / "x.jsonl")
    assert read_jsonl(p) == exs
    assert [f.name for f in p.parent.iterdir()] == ["x.jsonl"]
    assert json.loads(p.read_text().splitlines()[1]) == {"target": "only target", "source": None, "factors": {}}


def test_read_jsonl_errors_name_line(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"target": "a"}\n{"target": 3}\n')
    with pytest.raises(DataError, match=r"d\.jsonl, line 2: .*'target'"):
        read_jsonl(p)
    p = write(tmp_path / "e.jsonl", '{"target": "a"}\n\n[1,\n')
    with pytest.raises(DataError, match=r"e\.jsonl, line 3: malformed JSON"):
        read_jsonl(p)


# --------------------------------------------------------------------------- #
# prepare_task
# --------------------------------------------------------------------------- #


def test_prepare_task_real(tmp_path):
    make_ptb(tmp_path / "root", n=50)
    out = tmp_path / "out"
    paths = prepare_task("ptb", out, data_root=tmp_path / "root", seed=3, max_examples={"train": 10})
    assert set(paths) == {"train", "valid", "test", "info"}
    train = read_jsonl(paths["train"])
    assert len(train) == 10 and len(read_jsonl(paths["valid"])) == 50
    nums = [int(e.target.split()[-1]) for e in train]
    assert nums == sorted(nums) and nums != list(range(10))  # seeded sample in file order, not first-N
    info = json.loads(paths["info"].read_text())
    assert info["task"] == "ptb" and info["source"] == "root"  # the data root's name, never an absolute path
    assert info["counts"] == {"train": 10, "valid": 50, "test": 50} and info["available"]["train"] == 50
    assert sorted(f.name for f in out.iterdir()) == ["info.json", "test.jsonl", "train.jsonl", "valid.jsonl"]
    again = prepare_task("ptb", tmp_path / "out2", data_root=tmp_path / "root", seed=3, max_examples={"train": 10})
    assert again["train"].read_bytes() == paths["train"].read_bytes()


def test_prepare_task_notes(tmp_path):
    for s in ("valid", "test"):
        write(tmp_path / "yahoo" / f"yahoo.{s}.txt", "".join(f"doc {i}\n" for i in range(100)))
    paths = prepare_task("yahoo", tmp_path / "out", data_root=tmp_path)
    info = json.loads(paths["info"].read_text())
    assert any("yahoo: no train split" in n and "trained on valid" in n for n in info["notes"])


def test_prepare_task_synthetic(tmp_path):
    paths = prepare_task("quora", tmp_path / "o", seed=1, synthetic_sizes={"train": 30, "valid": 5, "test": 5})
    info = json.loads(paths["info"].read_text())
    assert info["source"] == "synthetic" and info["counts"] == {"train": 30, "valid": 5, "test": 5}
    ex = read_jsonl(paths["train"])[0]
    assert ex.source and ex.factors


def test_prepare_task_error_leaves_nothing(tmp_path):
    make_ptb(tmp_path / "root")
    write(tmp_path / "root" / "ptb" / "ptb.test.txt", b"fine\n\xc3\x28 broken\n")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"ptb\.test\.txt, line 2"):
        prepare_task("ptb", out, data_root=tmp_path / "root")
    assert not out.exists()  # not even a partial train.jsonl
    # an existing output folder keeps its old files untouched
    write(out / "train.jsonl", "OLD\n")
    with pytest.raises(DataError):
        prepare_task("ptb", out, data_root=tmp_path / "root")
    assert [f.name for f in out.iterdir()] == ["train.jsonl"] and (out / "train.jsonl").read_text() == "OLD\n"


def test_prepare_task_write_failure_is_atomic(tmp_path, monkeypatch):
    make_ptb(tmp_path / "root")
    out = tmp_path / "out"
    write(out / "train.jsonl", "OLD\n")
    real = D._dump_jsonl
    calls = []

    def flaky(examples, fh):
        calls.append(1)
        if len(calls) == 3:  # the test split: half-written, then the disk "fails"
            fh.write('{"target": "partial')
            raise OSError("disk full")
        return real(examples, fh)

    monkeypatch.setattr(D, "_dump_jsonl", flaky)
    with pytest.raises(OSError, match="disk full"):
        prepare_task("ptb", out, data_root=tmp_path / "root")
    assert [f.name for f in out.iterdir()] == ["train.jsonl"] and (out / "train.jsonl").read_text() == "OLD\n"


def test_prepare_task_bad_max_examples(tmp_path):
    make_ptb(tmp_path / "root")
    with pytest.raises(ValueError, match="unknown split"):
        prepare_task("ptb", tmp_path / "o", data_root=tmp_path / "root", max_examples={"dev": 3})
    assert not (tmp_path / "o").exists()


def test_download_rules_offline(tmp_path):
    """The download table covers every task; tasks without a direct URL say where
    to get the data.  (No network is used here.)"""
    from della.data.download import MANUAL, SOURCES, download_task

    assert set(SOURCES) | set(MANUAL) == set(TASKS)
    with pytest.raises(RuntimeError, match="quora"):
        download_task("quora", tmp_path)
    (tmp_path / "ptb").mkdir()
    assert download_task("ptb", tmp_path) == tmp_path / "ptb"  # existing folder: nothing fetched


def test_utf8_bom_is_not_part_of_the_first_sentence(tmp_path):
    make_ptb(tmp_path)
    write(tmp_path / "ptb" / "ptb.valid.txt", "\ufefffirst sentence\nsecond\n".encode("utf-8"))
    assert [e.target for e in read_task("ptb", tmp_path, "valid")] == ["first sentence", "second"]


def test_nul_byte_is_refused_naming_file_and_line(tmp_path):
    make_ptb(tmp_path)
    write(tmp_path / "ptb" / "ptb.valid.txt", b"ok one\nok\x00two\n")
    with pytest.raises(DataError, match=r"ptb\.valid\.txt, line 2: NUL byte"):
        read_task("ptb", tmp_path, "valid")


def test_prepared_files_are_world_readable_and_carry_data_checksums(tmp_path):
    make_ptb(tmp_path / "root", n=20)
    old = os.umask(0o022)
    try:
        paths = prepare_task("ptb", tmp_path / "out", data_root=tmp_path / "root")
    finally:
        os.umask(old)
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == 0o644, path
    info = json.loads(paths["info"].read_text())
    import hashlib

    expected = hashlib.sha256((tmp_path / "root" / "ptb" / "ptb.train.txt").read_bytes()).hexdigest()
    assert info["files"]["ptb/ptb.train.txt"] == expected and len(info["files"]) == 3


# --------------------------------------------------------------------------- #
# task_files: exactly the files the readers read (issue 20, item 7)
# --------------------------------------------------------------------------- #

LAYOUTS = {  # one fixture per reader layout: {relative path: text}
    "ptb": {f"ptb/ptb.{s}.txt": "a b\n" for s in SPLITS},
    "yahoo": {f"yahoo/yahoo.{s}.txt": "".join(f"doc {i}\n" for i in range(50)) for s in ("valid", "test")},
    "yelp": {f"yelp/yelp.{s}.txt": "4\tgood .\n" for s in SPLITS},
    "yelp-shen": {f"yelp_sentiment/sentiment.{u}.{lab}": "".join(f"t {u} {lab} {i}\n" for i in range(50))
                  for u in ("train", "dev", "test") for lab in (0, 1)},
    "snli": {"snli/snli.train.txt": "a .\nb .\n", "snli/snli_1.0_train.jsonl": "not read: snli.train.txt wins\n",
             "snli/snli_1.0_dev.jsonl": json.dumps({"sentence1": "x .", "sentence2": "y ."}) + "\n",
             "snli/snli_1.0_test.jsonl": json.dumps({"sentence1": "z .", "sentence2": "w ."}) + "\n"},
    "cnndm": {**{f"cnndm/{n}.jsonl": json.dumps({"article": "a .", "highlights": "h ."}) + "\n"
                 for n in ("train", "val", "test")}, "cnndm/train.source": "not read: the jsonl wins\n"},
    "cnndm-pairs": {f"cnndm/{n}.{side}": "x .\n" for n in ("train", "valid", "test") for side in ("source", "target")},
    "wp": {f"writingprompts/{s}.wp_{side}": "x .\n" for s in SPLITS for side in ("source", "target")},
    "wp-reference": {"writingprompts/reference_ipt.txt": "".join(f"p {i}\n" for i in range(50)),
                     "writingprompts/reference_opt.txt": "".join(f"s {i}\n" for i in range(50))},
    "quora": {f"quora/{s}.{side}.txt": "".join(f"q {s} {i} ?\n" for i in range(50))
              for s in ("train", "test") for side in ("src", "tgt")},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_task_files_are_the_files_the_reader_reads(tmp_path, layout, monkeypatch):
    task = layout.split("-")[0]
    for rel, text in LAYOUTS[layout].items():
        write(tmp_path / rel, text)
    for folder in D.TASK_FOLDERS[task]:  # what a data folder also holds: not read, not checksummed
        write(tmp_path / folder / "README.md", "notes\n")
        write(tmp_path / folder / ".swp", b"\x00")
    opened = set()
    real = D._raw_lines
    monkeypatch.setattr(D, "_raw_lines", lambda path: opened.add(Path(path)) or real(path))
    load_task(task, tmp_path)
    assert opened and set(D.task_files(task, tmp_path)) == opened
    info = json.loads(prepare_task(task, tmp_path / "out", data_root=tmp_path)["info"].read_text())
    assert set(info["files"]) == {str(p.relative_to(tmp_path)) for p in opened}  # the checksums: these only
