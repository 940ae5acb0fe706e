"""Downloads against a local HTTP server (DELLA_DOWNLOAD_MIRROR on 127.0.0.1) serving small fixture
archives in the upstream formats: a good CNN/DM tarball is unpacked where the reader finds it; a
truncated archive, a checksum mismatch and no network each fail with a clear message and leave
nothing behind."""
import functools
import http.server
import io
import socket
import tarfile
import threading

import pytest

from della.data.download import MIRROR_ENV, DownloadError, download_task, paper_preprocess
from della.data.readers import read_task


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _tgz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _left_behind(root):
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_cnndm_archive_is_unpacked_for_the_reader(server, tmp_path, monkeypatch):
    mirror, url = server
    files = {}
    for split in ("train", "val", "test"):
        files[f"cnn_dm/{split}.source"] = "the first article .\nthe second article .\n"
        files[f"cnn_dm/{split}.target"] = "first highlight .\nsecond highlight .\n"
    (mirror / "cnndm").mkdir()
    (mirror / "cnndm" / "cnn_dm_v2.tgz").write_bytes(_tgz(files))
    monkeypatch.setenv(MIRROR_ENV, url)
    folder = download_task("cnndm", tmp_path / "data")
    assert sorted(p.name for p in folder.iterdir()) == sorted([n.split("/")[1] for n in files] + ["PREPROCESSING.json"])
    examples = read_task("cnndm", tmp_path / "data", "train")
    assert examples[0].source == "the first article ." and examples[0].target == "first highlight ."


def test_truncated_archive_fails_and_leaves_nothing(server, tmp_path, monkeypatch):
    mirror, url = server
    good = _tgz({"writingPrompts/train.wp_source": "a prompt\n" * 200, "writingPrompts/train.wp_target": "a story\n"})
    (mirror / "wp").mkdir()
    (mirror / "wp" / "writingPrompts.tar.gz").write_bytes(good[: len(good) // 2])
    monkeypatch.setenv(MIRROR_ENV, url)
    with pytest.raises(DownloadError, match="truncated or corrupt"):
        download_task("wp", tmp_path / "data")
    assert _left_behind(tmp_path / "data") == []


def test_checksum_mismatch_fails_and_leaves_nothing(server, tmp_path, monkeypatch):
    mirror, url = server
    (mirror / "ptb").mkdir()
    for split in ("train", "valid", "test"):
        (mirror / "ptb" / f"ptb.{split}.txt").write_text(" not the real ptb \n")
    monkeypatch.setenv(MIRROR_ENV, url)
    with pytest.raises(DownloadError, match="SHA-256"):
        download_task("ptb", tmp_path / "data")
    assert _left_behind(tmp_path / "data") == []


def test_no_network_says_pass_data_root(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match="data_root=PATH"):
        download_task("yahoo", tmp_path / "data")
    assert _left_behind(tmp_path / "data") == []


def test_missing_file_on_server_is_an_http_error(server, tmp_path, monkeypatch):
    _, url = server
    monkeypatch.setenv(MIRROR_ENV, url)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_task("yahoo", tmp_path / "data")
    assert _left_behind(tmp_path / "data") == []


def test_absent_task_gets_a_marked_synthetic_stand_in(tmp_path):
    """config/real-small.yaml's data.missing: {cnndm: synthetic} — no CNN/DM folder under the data root."""
    import json

    from della.data.readers import DataError, prepare_task

    root = tmp_path / "data"
    (root / "ptb").mkdir(parents=True)
    with pytest.raises(DataError, match="cnndm"):
        prepare_task("cnndm", tmp_path / "out-error", data_root=root)
    with pytest.raises(DataError, match="cnndm"):  # opting another task in does not cover this one
        prepare_task("cnndm", tmp_path / "out-other", data_root=root, missing={"ptb": "synthetic"})
    paths = prepare_task("cnndm", tmp_path / "out", data_root=root, missing={"cnndm": "synthetic"},
                         synthetic_sizes={"train": 20, "valid": 5, "test": 5})
    info = json.loads(paths["info"].read_text())
    assert info["source"] == "synthetic" and info["stand_in_for"] == "data"  # the data root's name, not its path
    assert info["data_kind"] == "synthetic stand-in"
    assert info["notes"][0].startswith("STAND-IN: no file of cnndm")
    assert info["counts"] == {"train": 20, "valid": 5, "test": 5}


def _zip(files: dict) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def test_snli_download_keeps_the_papers_unique_sentences(server, tmp_path, monkeypatch):
    """SNLI sentences only (the paper's preprocessing): unique sentence1/sentence2 strings of each
    split, a seeded sample to the paper's sizes (here overridden to 3 for train), one a line."""
    import json

    import della.data.download as download

    mirror, url = server
    rows = [("a man sleeps .", "a man rests ."), ("a man sleeps .", "nobody sleeps ."), ("dogs run .", "a dog runs ."),
            ("two cats .", "a man rests .")]
    jsonl = "".join(json.dumps({"sentence1": a, "sentence2": b, "gold_label": "neutral"}) + "\n" for a, b in rows)
    (mirror / "snli").mkdir()
    (mirror / "snli" / "snli_1.0.zip").write_bytes(_zip({f"snli_1.0/snli_1.0_{s}.jsonl": jsonl
                                                          for s in ("train", "dev", "test")}))
    monkeypatch.setenv(MIRROR_ENV, url)
    monkeypatch.setitem(download.PAPER_SIZES, "snli", {"train": 3, "valid": 10, "test": 10})
    folder = download_task("snli", tmp_path / "data")
    assert sorted(p.name for p in folder.iterdir()) == ["PREPROCESSING.json", "snli.test.txt", "snli.train.txt",
                                                         "snli.valid.txt"]
    unique = ["a man sleeps .", "a man rests .", "nobody sleeps .", "dogs run .", "a dog runs .", "two cats ."]
    assert (folder / "snli.valid.txt").read_text().splitlines() == unique
    train = (folder / "snli.train.txt").read_text().splitlines()
    assert len(train) == 3 and set(train) < set(unique) and train == sorted(train, key=unique.index)
    record = json.loads((folder / "PREPROCESSING.json").read_text())
    assert record["splits"]["train"] == {"upstream_unique_sentences": 6, "kept": 3}
    assert [ex.target for ex in read_task("snli", tmp_path / "data", "train")] == train


def test_wp_download_applies_the_official_length_filter_and_paper_size(server, tmp_path, monkeypatch):
    """WritingPrompts: pairs of 700 or more words (source + target, <newline> markers not counted,
    as OpenVLG/DELLA's WPDataset counts) are dropped from every split; train is then cut to the
    paper's size (here overridden to 2) by a seeded sample."""
    import json

    import della.data.download as download

    mirror, url = server
    short_story = "once upon a time <newline> <newline> the end ."
    long_story = " ".join(["word"] * 690)  # + a 10-word prompt = 700 words: dropped
    newline_story = " ".join(["word"] * 680) + " <newline>" * 50  # 680 + 10 words: kept
    prompts = ["[ WP ] a prompt of exactly ten words in all here"] * 4
    stories = [short_story, long_story, newline_story, short_story + " again"]
    files = {}
    for split in ("train", "valid", "test"):
        files[f"writingPrompts/{split}.wp_source"] = "\n".join(prompts) + "\n"
        files[f"writingPrompts/{split}.wp_target"] = "\n".join(stories) + "\n"
    (mirror / "wp").mkdir()
    (mirror / "wp" / "writingPrompts.tar.gz").write_bytes(_tgz(files))
    monkeypatch.setenv(MIRROR_ENV, url)
    monkeypatch.setitem(download.PAPER_SIZES, "wp", {"train": 2})
    folder = download_task("wp", tmp_path / "data")
    record = json.loads((folder / "PREPROCESSING.json").read_text())
    assert record["splits"]["valid"] == {"upstream_pairs": 4, "under_700_words": 3, "kept": 3}
    assert record["splits"]["train"] == {"upstream_pairs": 4, "under_700_words": 3, "kept": 2, "paper": 2}
    valid = read_task("wp", tmp_path / "data", "valid")
    assert len(valid) == 3 and all(len(ex.target.split()) != 690 for ex in valid)
    assert len(read_task("wp", tmp_path / "data", "train")) == 2


def test_preprocessing_refuses_misaligned_pairs(tmp_path):
    from della.data.readers import DataError

    (tmp_path / "train.source").write_text("a\nb\n")
    (tmp_path / "train.target").write_text("a\n")
    with pytest.raises(DataError, match="differ in length"):
        paper_preprocess("cnndm", tmp_path)
    assert paper_preprocess("ptb", tmp_path) is None  # the paper's files as shipped
