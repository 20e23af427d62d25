"""A persistent JAX compilation cache, so that a second fit of the same model skips XLA.

Most of a small fit's wall time is compilation (the quickstart's map fit: 0.4 s optimising,
7 s compiling), and the programs are the same from one run of a spec to the next.  JAX can keep
compiled executables on disk; both JAX-using backends (NumPyro, and PyMC's JAX linker and its
numpyro/blackjax samplers) switch that on here, once, before their first compile.

Where: ``<user cache>/specrec/jax`` (``platformdirs.user_cache_dir``, so ``$XDG_CACHE_HOME``
on Linux), or ``$SPECREC_JAX_CACHE``: a folder, or ``off`` (also ``0``, ``no``, ``false``,
``none``, empty) for no cache.  A user who configured JAX's cache themselves (the
``JAX_COMPILATION_CACHE_DIR`` environment variable, ``jax.config.update`` before the fit, or
``jax_enable_compilation_cache`` off) keeps their setting: nothing here overrides it.

Safe across versions: JAX keys every entry by a hash of the program, the jaxlib version, the
XLA flags and the device's platform version, so an upgrade or another ``XLA_FLAGS`` never loads
a stale executable; it only misses and writes a new entry.  A broken entry is a warning from
JAX and a recompilation, not a failure.  Entries are never deleted by specrec; the folder can
be removed at any time.

Importing this module imports no JAX.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "SPECREC_JAX_CACHE"
OFF = {"off", "0", "no", "false", "none", ""}

#: Every program is written, however fast it compiled.  JAX's default (1 s) would keep almost
#: nothing of ours: of the ~206 programs a quickstart map fit compiles, 197 are the single
#: operations NumPyro dispatches one by one while ``SVI.init`` runs the model and guide
#: eagerly (10-40 ms each, 5-8 s in all on the shared 2-core machine), and the scanned SVI
#: chunk takes about 1 s.  Reading an entry back costs a few ms; the whole cache of the
#: quickstart is about 1 MB.
MIN_COMPILE_TIME_S = 0.0

#: JAX's own monitoring events for the persistent cache -> our names.  ``cache_misses`` is
#: recorded when an entry is written (a program under the threshold is looked up, not written).
EVENTS = {
    "/jax/compilation_cache/compile_requests_use_cache": "lookups",
    "/jax/compilation_cache/cache_hits": "hits",
    "/jax/compilation_cache/cache_misses": "written",
}

_state: dict[str, str | None] = {}
_counts = dict.fromkeys(EVENTS.values(), 0)


def resolve(environ: os._Environ[str] | dict[str, str] | None = None) -> Path | None:
    """The folder ``$SPECREC_JAX_CACHE`` asks for (None: off), else the default one."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV)
    if raw is not None:
        if raw.strip().lower() in OFF:
            return None
        return Path(raw).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("specrec")) / "jax"


def enable() -> str | None:
    """Switch the persistent cache on (once per process).  Returns the folder in use (the
    user's own when they set one), or None when it is off.

    Call before the first JAX compilation; a later call changes nothing.  The reason the
    cache is on or off is kept for ``status()``.
    """
    if "dir" in _state:
        return _state["dir"]
    import jax

    own = jax.config.jax_compilation_cache_dir
    if not jax.config.jax_enable_compilation_cache:
        _remember(None, "switched off in JAX's own configuration")
    elif own:
        _remember(str(own), "the user's own JAX setting")
    elif (folder := resolve()) is None:
        _remember(None, f"{ENV}={os.environ.get(ENV)}")
    else:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _remember(None, f"cannot create {folder}: {exc.strerror}")
            return None
        if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
            jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
        jax.config.update("jax_compilation_cache_dir", str(folder))
        _remember(str(folder), f"specrec's default ({ENV} moves it or switches it off)")
    jax.monitoring.register_event_listener(_count)
    return _state["dir"]


def counts() -> dict[str, int]:
    """Lookups, hits and entries written in this process so far (zeros before ``enable``).

    Counted from JAX's own monitoring events, so they are what JAX did, whoever set the cache.
    """
    return dict(_counts)


def _count(event: str, **_: object) -> None:
    name = EVENTS.get(event)
    if name is not None:
        _counts[name] += 1


def report() -> dict[str, object] | None:
    """The folder in use and the counts so far (None before ``enable``): what a JAX-using
    backend's ``compile_cache()`` returns, for the core to difference around a fit."""
    return {"dir": _state.get("dir"), **counts()} if _state else None


def status() -> dict[str, str | None]:
    """``{"dir": folder or None, "why": reason}`` (empty before ``enable``)."""
    return dict(_state)


def _remember(folder: str | None, why: str) -> None:
    _state["dir"] = folder
    _state["why"] = why
