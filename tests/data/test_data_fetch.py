"""fetch downloads once from a loopback server, verifies the hash, and never leaves junk."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from specrec.data.fetch import fetch
from specrec.data.loaders import load_movielens_100k
from specrec.errors import DataError, UsageError


class _Server:
    """Serves one payload on 127.0.0.1 and counts the requests it gets."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                self.wfile.write(server.payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ml-100k.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(ml100k_zip: Path) -> Iterator[_Server]:
    running = _Server(ml100k_zip.read_bytes())
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECREC_CACHE_DIR", raising=False)
    monkeypatch.delenv("SPECREC_MOVIELENS_100K_URL", raising=False)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_fetch_downloads_once(server, tmp_path, capsys):
    cache = tmp_path / "cache"
    folder = fetch(cache_dir=cache, url=server.url)
    assert server.requests == 1
    assert (folder / "u.data").is_file()
    assert "downloading ml-100k.zip" in capsys.readouterr().err
    recorded = (cache / "movielens-100k" / "ml-100k.zip.sha256").read_text().strip()
    assert recorded == hashlib.sha256(server.payload).hexdigest()
    assert not [p for p in _files(cache) if p.name.endswith(".part")]

    again = fetch(cache_dir=cache, url=server.url, progress=False)
    assert again == folder
    assert server.requests == 1  # second call made no request
    assert len(load_movielens_100k(again)) == 3


def test_fetch_env_overrides(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SPECREC_CACHE_DIR", str(tmp_path / "envcache"))
    monkeypatch.setenv("SPECREC_MOVIELENS_100K_URL", server.url)
    folder = fetch(progress=False)
    assert folder.is_relative_to(tmp_path / "envcache")
    assert server.requests == 1


def test_fetch_with_correct_sha256(server, tmp_path):
    digest = hashlib.sha256(server.payload).hexdigest()
    folder = fetch(cache_dir=tmp_path / "c", url=server.url, sha256=digest, progress=False)
    assert (folder / "u.data").is_file()


def test_wrong_sha256_raises_and_leaves_cache_clean(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="sha256 mismatch") as err:
        fetch(cache_dir=cache, url=server.url, sha256="0" * 64, progress=False)
    assert server.url in str(err.value)
    assert _files(cache) == []
    assert not (cache / "movielens-100k").exists()


def test_tampered_cache_is_detected(server, tmp_path):
    cache = tmp_path / "cache"
    fetch(cache_dir=cache, url=server.url, progress=False)
    (cache / "movielens-100k" / "ml-100k.zip").write_bytes(b"tampered")
    with pytest.raises(DataError, match="cached archive has sha256"):
        fetch(cache_dir=cache, url=server.url, progress=False)
    assert server.requests == 1


def test_unreachable_server(tmp_path):
    with pytest.raises(DataError, match="download failed"):
        fetch(cache_dir=tmp_path / "c", url="http://127.0.0.1:9/none.zip", progress=False)
    assert _files(tmp_path / "c") == []


def test_unknown_name(tmp_path):
    with pytest.raises(UsageError, match="unknown data set 'ml-1b'"):
        fetch("ml-1b", cache_dir=tmp_path)
