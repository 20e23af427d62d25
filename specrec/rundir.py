"""Run directories: written atomically (temp dir + rename), read back without refitting.

A killed fit leaves only a ``.tmp-*`` folder that the next run ignores, never a half-written run.
``FORMAT`` is bumped whenever the layout changes; a reader refuses a format it does not know.
Format 2 added ``run.json`` (format and specrec version) and ``train.npz`` (the training rows,
so a run predicts for new pairs without the original data or a backend).  ``run.json`` also
records the sizes of the larger files (``seal``), so a truncated one is found without reading it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from specrec.errors import FitError, UsageError

FORMAT = 2
#: Formats this version can load for prediction (format 1 stored no training rows).
READABLE = (2,)
FILES = {
    "run": "run.json",  # format and the specrec version that wrote the run
    "train": "train.npz",  # the training rows and level tables (specrec.data.dataset.save)
    "spec": "spec.yaml",  # the spec exactly as given
    "resolved": "resolved.json",  # every setting after overrides and defaults
    "posterior": "posterior.nc",  # InferenceData (NetCDF)
    "predictions": "predictions.csv",  # test pairs by raw id: observed, mean, interval
    "metrics": "metrics.json",
    "curves": "curves.json",  # loss per step, Frobenius norms per draw, running RMSE per draw
}


def new_run_id(method: str, backend: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{backend}-{method}-{os.urandom(3).hex()}"


def check_writable(out: str | Path, option: str = "--out") -> Path:
    """``out`` as an absolute folder that runs can be written to, or a ``UsageError`` saying
    why not; called before a fit starts, so minutes of inference are never lost to a bad path.

    Permission bits are not the whole story (``os.access`` says yes to root in ``/sys``, on a
    read-only mount or a full disk): a folder is really created and removed in the nearest
    folder that exists, and nothing is left behind."""
    from specrec.errors import UsageError

    folder = Path(out).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {out}: is a file, not a folder of run directories")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{option} {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {out}: {existing} is not writable")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".specrec-probe-", dir=existing))
    except OSError as exc:
        raise UsageError(
            f"{option} {out}: cannot write in {existing} ({exc.strerror or exc}); "
            "choose another folder"
        ) from None
    return folder


def check_writable_file(path: str | Path, option: str = "--out") -> Path:
    """``path`` as an absolute file that can be written (its folder created if need be), or a
    ``UsageError``; checked before the work that produces it."""
    from specrec.errors import UsageError

    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file")
    check_writable(target.parent, f"{option} {path}: its folder")
    return target


def latest_run(folder: str | Path) -> Path:
    """``folder`` itself when it is a run directory; the newest run in it when it is a spec's
    runs folder (``runs/NAME``, whose run ids begin with their UTC time)."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / FILES["run"]).is_file():
        return folder
    if (folder / FILES["metrics"]).is_file():
        return folder
    runs = sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / FILES["run"]).is_file()
    )
    return runs[-1] if runs else folder


def no_room(exc: OSError) -> str | None:
    """Why a write failed when the place has no room for it (full, over quota, read-only), as
    a user reads it; None for any other failure."""
    why = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno)
    return None if why is None else f"{why} ({exc.strerror})"


def write_run(out_root: Path, run_id: str, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` then move the finished folder to ``out_root/run_id`` in one rename.

    A write that fails leaves nothing behind: not its temporary folder, nor ``out_root`` when
    this write created it and it is still empty.
    """
    created = not out_root.exists()
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run_id}-", dir=out_root))

    def discard() -> None:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not any(out_root.iterdir()):
            out_root.rmdir()

    from specrec import interrupt

    try:
        interrupt.check()  # a Ctrl-C whose exception was dropped: no run appears after it
        write(tmp)
        seal(tmp)
        tmp.chmod(dir_mode())  # mkdtemp's 0700 is for the staging name only
        interrupt.check()
        final = out_root / run_id
        os.replace(tmp, final)
    except OSError as exc:
        discard()
        if why := no_room(exc):
            raise FitError(
                f"could not write the run to {out_root / run_id}: {why}; "
                "nothing was kept: free space or choose another --out, then fit again"
            ) from exc
        raise
    except BaseException:
        discard()
        raise
    return final


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``os.umask`` can
    only be read by setting it, which would briefly change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open`` gives a new file: 0666 less the umask (0644 under umask 022).

    ``mkstemp`` and ``mkdtemp`` make their names private (0600, 0700) so that nobody reads a
    half-written file; what is renamed into place is an ordinary output and gets this mode
    (or ``dir_mode``) first."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0777 less the umask."""
    return 0o777 & ~current_umask()


def write_text_atomic(path: Path, text: str) -> None:
    """Write a single file through a temporary name in its folder and one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if why := no_room(exc):
            raise FitError(f"could not write {path}: {why}; nothing was written") from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def own_dist() -> str:
    """The name specrec is installed under (``registry.DISTRIBUTION`` in a current install)."""
    from specrec.registry import DISTRIBUTION, own_distribution

    dist = own_distribution()
    return DISTRIBUTION if dist is None else dist.metadata["Name"]


def specrec_version() -> str:
    from specrec.registry import own_version

    return own_version()


def write_manifest(folder: Path) -> None:
    """``run.json``: what a reader checks before it trusts any other file of the run."""
    write_json(folder / FILES["run"], {"format": FORMAT, "specrec_version": specrec_version()})


#: The files whose sizes ``run.json`` records once the run is written (``seal``): the ones a
#: study report does not parse, so that a truncated one is found by a stat, not by reading it.
SIZED = ("train", "posterior", "predictions", "curves")


def seal(folder: Path) -> None:
    """Record in ``run.json`` the byte size of each ``SIZED`` file, after all are written."""
    manifest = folder / FILES["run"]
    if not manifest.is_file():
        return  # not a fit's run (``specrec prior`` writes none)
    info = json.loads(manifest.read_text())
    info["sizes"] = {
        FILES[k]: (folder / FILES[k]).stat().st_size for k in SIZED if (folder / FILES[k]).is_file()
    }
    write_json(manifest, info)


def size_damage(folder: Path) -> str | None:
    """Which recorded file of the run is missing or has another size now, or None.

    A run written before sizes were recorded, or without a readable ``run.json``, is not judged
    here (``read_manifest`` says what is wrong with a manifest).
    """
    try:
        sizes = json.loads((Path(folder) / FILES["run"]).read_text()).get("sizes")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(sizes, dict):
        return None
    for name, size in sizes.items():
        path = Path(folder) / str(name)
        try:
            found = path.stat().st_size
        except OSError:
            return f"{path} is missing"
        if found != size:
            return f"{path} is damaged: {found} bytes, {size} when the run was written"
    return None


def check_sizes(folder: Path) -> None:
    """Refuse a run whose recorded files are missing or cut short (``size_damage``), before any
    reader trusts it: a run without its predictions.csv would otherwise be reported on, or
    predicted from, as if that file had never been written."""
    damage = size_damage(folder)
    if damage is not None:
        raise UsageError(
            f"{damage}; the run directory was altered: fit the spec again to rebuild it"
        )


#: What reading a truncated or corrupted run file raises (JSON, NetCDF/HDF5, npz).
DAMAGE = (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, RuntimeError)


def damaged(folder: Path, key: str, exc: BaseException) -> UsageError:
    """The error for a run file that exists but cannot be read: which file of which run."""
    return UsageError(
        f"{Path(folder) / FILES[key]}: the run's {FILES[key]} is damaged and cannot be read "
        f"({type(exc).__name__}: {str(exc)[:200]}); fit the spec again to rebuild the run"
    )


@contextlib.contextmanager
def reading(folder: Path, key: str) -> Iterator[Path]:
    """Read one file of a run; a truncated or corrupted file becomes ``damaged(...)``."""
    try:
        yield Path(folder) / FILES[key]
    except DAMAGE as exc:
        raise damaged(folder, key, exc) from None


def read_json(folder: Path, key: str) -> dict:
    """A JSON file of a run (metrics, curves...), or a ``UsageError`` naming the damaged file."""
    with reading(folder, key) as path:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        return data


def read_manifest(folder: Path) -> dict:
    """The run's format and version, or a ``UsageError`` that says why it cannot be loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such run directory")
    manifest = folder / FILES["run"]
    if manifest.is_file():
        try:
            info = json.loads(manifest.read_text())
            fmt = info["format"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{manifest}: not a valid run manifest ({exc})") from None
    elif (folder / FILES["metrics"]).is_file():  # format 1 wrote no manifest
        metrics = read_json(folder, "metrics")
        info = {"format": metrics.get("specrec_format", 1), "specrec_version": "unknown"}
        fmt = info["format"]
    else:
        raise UsageError(f"{folder}: not a specrec run directory (no {FILES['run']})")
    here = specrec_version()
    written_by = info.get("specrec_version", "unknown")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise UsageError(
            f"{folder}: run format {fmt!r} (written by specrec {written_by}) is newer than "
            f"this specrec {here} can read (formats {', '.join(map(str, READABLE))}); "
            "upgrade specrec to load it"
        )
    if fmt not in READABLE:
        raise UsageError(
            f"{folder}: run format {fmt} (written by specrec {written_by}) stores no training "
            f"rows, so this specrec {here} cannot predict from it; fit the spec again"
        )
    return info


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x: object) -> object:
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
