"""Downloading public rating data sets into a local cache, once, verified.

Benchmarks must run on exactly the bytes everyone else uses, so every archive is checked by hash
and a cached copy is reused without touching the network.  The cache lives in
``platformdirs.user_cache_dir("specrec")`` unless ``SPECREC_CACHE_DIR`` or ``cache_dir`` says
otherwise; its layout is ``<cache>/<name>/<archive>``, ``<archive>.sha256`` and the extracted
folder.

Checksums: GroupLens publishes only an MD5 for ``ml-100k.zip``
(``0e33842e24a9c977be4e0107933c0723``), checked whenever the official URL is used.  No official
SHA-256 is registered, so the first download records the archive's SHA-256 in ``<archive>.sha256``
beside it (trust on first use) and every later call verifies the cached archive against it.  A
``sha256=`` argument, when given, is checked instead, on download and on every later call.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import platformdirs

from specrec.errors import DataError, UsageError
from specrec.rundir import file_mode

CACHE_ENV = "SPECREC_CACHE_DIR"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Source:
    """Where a data set comes from and how to recognise it.

    Attributes:
        url: the official download address.
        url_env: environment variable that overrides ``url`` (mirrors, tests).
        archive: file name of the archive in the cache.
        folder: top folder inside the archive, returned by ``fetch``.
        sha256: expected SHA-256, or None where none is published (see the module docstring).
        md5: the publisher's MD5, checked only when downloading from ``url`` itself.
    """

    url: str
    url_env: str
    archive: str
    folder: str
    sha256: str | None = None
    md5: str | None = None


REGISTRY: dict[str, Source] = {
    "movielens-100k": Source(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        url_env="SPECREC_MOVIELENS_100K_URL",
        archive="ml-100k.zip",
        folder="ml-100k",
        md5="0e33842e24a9c977be4e0107933c0723",
    ),
}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: the argument, else ``$SPECREC_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(platformdirs.user_cache_dir("specrec"))


def fetch(
    name: str = "movielens-100k",
    *,
    cache_dir: str | Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Return the extracted folder of data set ``name``, downloading it only if not cached.

    Args:
        name: a key of ``REGISTRY``.
        cache_dir: cache folder (default: ``$SPECREC_CACHE_DIR`` or the user cache dir).
        url: download address (default: the source's env override, else its official URL).
        sha256: expected SHA-256 of the archive, overriding the registry and the recorded hash.
        progress: print a progress line on stderr while downloading.

    Raises:
        UsageError: unknown ``name``.
        DataError: download failure or checksum mismatch; nothing is left in the cache then.
    """
    if name not in REGISTRY:
        raise UsageError(f"unknown data set {name!r}; known: {', '.join(sorted(REGISTRY))}")
    source = REGISTRY[name]
    url = url or os.environ.get(source.url_env) or source.url
    folder = cache_root(cache_dir) / name
    archive = folder / source.archive
    record = folder / (source.archive + ".sha256")
    extracted = folder / source.folder

    if archive.is_file():
        expected = sha256 or source.sha256 or _read_record(record)
        actual = _hash_file(archive)
        if expected is not None and actual != expected.lower():
            raise DataError(
                f"cached archive has sha256 {actual}, expected {expected}; delete {folder} to "
                "download it again",
                file=str(archive),
            )
        if not record.exists():
            _write_atomic(record, actual + "\n")
        if not extracted.is_dir():
            _extract(archive, folder, source.folder)
        return extracted

    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        actual = _download(url, archive, source, sha256, progress)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    _write_atomic(record, actual + "\n")
    try:
        _extract(archive, folder, source.folder)
    except DataError:
        archive.unlink(missing_ok=True)  # a verified but unusable archive must not be reused
        record.unlink(missing_ok=True)
        raise
    return extracted


def _download(url: str, archive: Path, source: Source, sha256: str | None, progress: bool) -> str:
    """Stream ``url`` to a temp file beside ``archive``, verify it, then rename it into place."""
    expected = sha256 or source.sha256
    fd, name = tempfile.mkstemp(dir=archive.parent, prefix=archive.name + ".", suffix=".part")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            digest, md5 = _copy_url(url, handle, archive.name, progress)
        actual = digest.hexdigest()
        if expected is not None and actual != expected.lower():
            raise DataError(f"sha256 mismatch: expected {expected}, got {actual}", file=url)
        if url == source.url and source.md5 is not None and md5.hexdigest() != source.md5:
            raise DataError(
                f"md5 mismatch: expected {source.md5} (published), got {md5.hexdigest()}", file=url
            )
        os.chmod(temp, file_mode())  # mkstemp's 0600 is for the partial download only
        os.replace(temp, archive)
        return actual
    finally:
        temp.unlink(missing_ok=True)


def _copy_url(url: str, out: IO[bytes], label: str, progress: bool) -> tuple:
    """Copy the response body to ``out``, hashing as it goes; returns (sha256, md5)."""
    digest, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                md5.update(chunk)
                done += len(chunk)
                if progress:
                    _progress(label, done, total)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"download failed: {reason}", file=url) from None
    finally:
        if progress:
            sys.stderr.write("\n")
            sys.stderr.flush()
    return digest, md5


def _progress(label: str, done: int, total: int) -> None:
    mb = done / 1e6
    line = f"downloading {label}: {mb:.1f} MB"
    if total:
        line += f" of {total / 1e6:.1f} MB ({100 * done // total}%)"
    sys.stderr.write("\r" + line)
    sys.stderr.flush()


def _extract(archive: Path, folder: Path, top: str) -> None:
    """Extract into a temp folder, then rename ``top`` into place, so a crash leaves no half tree.

    ``zipfile`` already strips absolute paths and ``..`` from member names.
    """
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".extract-"))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
        except zipfile.BadZipFile:
            raise DataError(
                f"not a valid zip archive; delete {folder} to download it again",
                file=str(archive),
            ) from None
        if not (staging / top).is_dir():
            raise DataError(f"the archive has no top folder {top!r}", file=str(archive))
        target = folder / top
        try:
            os.replace(staging / top, target)
        except OSError:
            if not target.is_dir():  # otherwise another process extracted it first: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_record(record: Path) -> str | None:
    if not record.is_file():
        return None
    text = record.read_text().split()
    return text[0].lower() if text else None


def _write_atomic(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(name, file_mode())
    os.replace(name, path)
