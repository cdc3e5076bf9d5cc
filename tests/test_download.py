"""Downloads and archives, against a real HTTP server on 127.0.0.1 serving files the tests write."""
import hashlib
import http.server
import io
import tarfile
import threading
from dataclasses import replace

import pytest

from digitlib.data import ChecksumError, CorruptArchiveError, DataMissingError, UnsafeArchiveError
from digitlib.data.download import REMOTE_FILES, RemoteFile, fetch, safe_extract


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _remote(url, data, name="test.tar.gz"):
    return RemoteFile(name, url, "sha256:" + hashlib.sha256(data).hexdigest(), 0.1, "python -m digitlib.data fetch svhn --split test")


def test_fetch_downloads_and_verifies(server, tmp_path):
    root, url = server
    (root / "test.tar.gz").write_bytes(b"payload")
    path = fetch(_remote(f"{url}/test.tar.gz", b"payload"), tmp_path / "cache", progressbar=False)
    assert path.read_bytes() == b"payload"


def test_wrong_checksum_removes_the_file_and_says_how_to_retry(server, tmp_path):
    root, url = server
    (root / "test.tar.gz").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="did not match its checksum.*partial file was removed.*fetch svhn --split test"):
        fetch(_remote(f"{url}/test.tar.gz", b"payload"), tmp_path / "cache", progressbar=False)
    assert not any((tmp_path / "cache").iterdir())


def test_a_damaged_local_copy_is_downloaded_again(server, tmp_path):
    root, url = server
    (root / "test.tar.gz").write_bytes(b"payload")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "test.tar.gz").write_bytes(b"payl")  # an interrupted earlier download
    path = fetch(_remote(f"{url}/test.tar.gz", b"payload"), tmp_path / "cache", progressbar=False)
    assert path.read_bytes() == b"payload"


def test_unreachable_server_names_the_command(tmp_path):
    remote = _remote("http://127.0.0.1:9/none.tar.gz", b"x")
    with pytest.raises(DataMissingError, match="run `python -m digitlib.data fetch svhn --split test`"):
        fetch(remote, tmp_path, progressbar=False)


def test_safe_extract_extracts(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", {"test/1.png": b"png", "test/digitStruct.mat": b"mat"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "test" / "1.png").read_bytes() == b"png"


@pytest.mark.parametrize("member", ["../evil.txt", "test/../../evil.txt", "/tmp/evil.txt"])
def test_members_escaping_the_folder_are_refused(tmp_path, member):
    archive = _tar(tmp_path / "a.tar.gz", {"test/ok.txt": b"ok", member: b"evil"})
    with pytest.raises(UnsafeArchiveError, match="outside the target folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "test" / "ok.txt").exists()


def test_truncated_archive_is_a_clear_error(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", {f"test/{i}.png": bytes(range(256)) * 40 for i in range(20)})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptArchiveError, match="truncated or not a .tar.gz.*Delete it and run `cmd`"):
        safe_extract(archive, tmp_path / "out", retry_command="cmd")


def test_not_an_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(CorruptArchiveError):
        safe_extract(archive, tmp_path / "out")


def test_fetch_svhn_end_to_end_on_a_small_real_format_archive(server, data_dir, monkeypatch):
    """Download, verify, extract and prepare a format-1 archive written by the synthetic generator."""
    from digitlib.data import svhn
    from digitlib.data.synth import generate_split

    root, url = server
    split_dir = generate_split(root / "build" / "test", 6, seed=3, progress=False, workers=1)
    with tarfile.open(root / "test.tar.gz", "w:gz") as tar:
        tar.add(split_dir, arcname="test")
    data = (root / "test.tar.gz").read_bytes()
    remote = replace(REMOTE_FILES["svhn-test"], url=f"{url}/test.tar.gz",
                     known_hash="sha256:" + hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(REMOTE_FILES, "svhn-test", remote)
    folder = svhn.fetch_svhn("test", progress=False)
    assert (folder / "digitStruct.mat").exists() and (folder / "6.png").exists()
    prepared = svhn.svhn_split("test", progress=False)
    assert len(prepared) == 6 and "SVHN format 1 (test)" in prepared.load().source
