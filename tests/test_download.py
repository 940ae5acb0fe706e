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

from della.data import read_task
from della.download import MIRROR_ENV, DownloadError, download_task


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
    assert sorted(p.name for p in folder.iterdir()) == sorted(n.split("/")[1] for n in files)
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
    """config/real-small.yaml's data.missing: synthetic — no CNN/DM folder under the data root."""
    import json

    from della.data import DataError, prepare_task

    root = tmp_path / "data"
    (root / "ptb").mkdir(parents=True)
    with pytest.raises(DataError, match="cnndm"):
        prepare_task("cnndm", tmp_path / "out-error", data_root=root)
    paths = prepare_task("cnndm", tmp_path / "out", data_root=root, missing="synthetic",
                         synthetic_sizes={"train": 20, "valid": 5, "test": 5})
    info = json.loads(paths["info"].read_text())
    assert info["source"] == "synthetic" and info["stand_in_for"] == str(root)
    assert info["notes"][0].startswith("STAND-IN: no cnndm folder")
    assert info["counts"] == {"train": 20, "valid": 5, "test": 5}
