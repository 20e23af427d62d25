"""The entry-point registry: which backends are installed, from which distribution, how to add one.

Built-in backends register under the ``specrec.backends`` entry-point group exactly as a
third-party package would (xarray's plugin pattern).  Discovery reads only package metadata:
listing the backends, their distributions and versions, and whether what each needs is
installed imports no PPL, so ``specrec backends`` answers at once.  A backend is imported
when it is used; one that fails to import becomes a warning naming it and the error, not a
crash.  Nothing is hard-coded per backend: what a backend needs, and the ``pip install`` that
adds it, come from the extras its distribution declares (an extra named after the backend),
and its version from its own distribution, built-in or third-party alike.
"""

from __future__ import annotations

import difflib
import importlib.util
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from importlib.metadata import Distribution, EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from specrec.errors import BackendError

if TYPE_CHECKING:
    from specrec.backends import Backend

GROUP = "specrec.backends"
#: specrec's name on PyPI (``specrec`` there is another project); ``import specrec`` and the
#: ``specrec`` command keep their names.
DISTRIBUTION = "specrec-models"


class BackendWarning(UserWarning):
    """A registered backend cannot be used as registered (it failed to load, or two
    distributions register the same name)."""


def install_hint(extra: str) -> str:
    """The command that adds one of specrec's own extras."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@lru_cache(maxsize=1)
def own_distribution() -> Distribution | None:
    """The installed distribution that provides specrec: ``DISTRIBUTION``, or the one that
    provides the ``specrec`` command (an install from before the rename)."""
    try:
        return metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    for ep in entry_points(group="console_scripts", name="specrec"):
        if ep.value.startswith("specrec.cli") and ep.dist is not None:
            return ep.dist
    return None


def own_version() -> str:
    dist = own_distribution()
    return dist.version if dist is not None else "unknown"


def _is_own(dist: Distribution | None) -> bool:
    own = own_distribution()
    return dist is not None and own is not None and _dist_name(dist) == _dist_name(own)


def _dist_name(dist: Distribution | None) -> str | None:
    return None if dist is None else _canonical(dist.metadata["Name"] or "")


def _shown_name(dist: Distribution | None) -> str | None:
    """The name a user installs: ``DISTRIBUTION`` for specrec itself, whatever name an old
    install carries."""
    if dist is None:
        return None
    return DISTRIBUTION if _is_own(dist) else dist.metadata["Name"]


@dataclass(frozen=True)
class Plugin:
    """A registered backend, from metadata alone (nothing imported)."""

    name: str
    entry_point: EntryPoint
    distribution: str | None  # None: an entry point with no distribution (rare)
    version: str | None  # the distribution's version
    #: What the backend needs (requirement name -> installed version, None when missing):
    #: the distribution's extra named after the backend, else its own requirements.
    requires: dict[str, str | None] = field(default_factory=dict)
    extra: str | None = None  # the extra that installs what it needs, if its distribution has one
    module_found: bool = True  # the entry point's top-level module can be found

    @property
    def available(self) -> bool:
        return self.module_found and all(v is not None for v in self.requires.values())

    @property
    def hint(self) -> str | None:
        """How to make an unavailable backend available (None when it is)."""
        if self.available:
            return None
        if self.extra is not None and self.distribution:
            return f"pip install '{self.distribution}[{self.extra}]'"
        missing = [r for r, v in self.requires.items() if v is None]
        if missing:
            return "pip install " + " ".join(missing)
        return f"reinstall {self.distribution or 'the package providing ' + repr(self.name)}"


def _requirements(dist: Distribution, extra: str | None, seen: frozenset = frozenset()) -> list:
    """The requirements ``extra`` adds to ``dist`` (``None``: its own requirements), with
    self-references (``pkg[a]`` inside ``pkg``'s extras) expanded and specrec itself left out."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in dist.requires or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        with_extra = req.marker is None or req.marker.evaluate({"extra": extra or ""})
        without = req.marker is None or req.marker.evaluate({"extra": ""})
        if not with_extra or (extra is not None and without):
            continue
        if _canonical(req.name) == _dist_name(dist):
            for e in sorted(req.extras - seen):
                out += _requirements(dist, e, seen | {e})
        elif not (_canonical(req.name) == _canonical(DISTRIBUTION) or _is_own_name(req.name)):
            out.append(req)
    return out


def _is_own_name(name: str) -> bool:
    own = own_distribution()
    return own is not None and _canonical(name) == _dist_name(own)


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _plugin(ep: EntryPoint) -> Plugin:
    dist = ep.dist
    if dist is None:
        return Plugin(ep.name, ep, None, None)
    extras = dist.metadata.get_all("Provides-Extra") or []
    extra = next((e for e in extras if _canonical(e) == _canonical(ep.name)), None)
    reqs = _requirements(dist, extra)
    module = ep.value.split(":")[0].split(".")[0].strip()
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return Plugin(
        name=ep.name,
        entry_point=ep,
        distribution=_shown_name(dist),
        version=dist.version,
        requires={r.name: _installed_version(r.name) for r in reqs},
        extra=extra,
        module_found=found,
    )


@lru_cache(maxsize=1)
def plugins() -> dict[str, Plugin]:
    """Every registered backend by name, from metadata only.

    Two distributions registering the same name are a conflict a user must resolve (which one
    wins depends on ``sys.path``): a ``BackendWarning`` names both, and the first found is used.
    """
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        by_name.setdefault(ep.name, []).append(ep)
    out = {}
    for name in sorted(by_name):
        eps = by_name[name]
        dists = list(
            dict.fromkeys(f"{_shown_name(e.dist)} {e.dist.version}" for e in eps if e.dist)
        )
        if len(dists) > 1:
            warnings.warn(
                f"backend {name!r} is registered by {len(dists)} distributions "
                f"({', '.join(dists)}); using {dists[0]}'s; uninstall the other",
                BackendWarning,
                stacklevel=2,
            )
        out[name] = _plugin(eps[0])
    return out


def backend_distribution(name: str) -> tuple[str | None, str | None]:
    """(distribution, version) of the package that registers backend ``name``."""
    p = plugins().get(name)
    return (None, None) if p is None else (p.distribution, p.version)


def backend_versions(name: str) -> dict[str, str]:
    """The versions a run records for backend ``name``: its distribution's and those of what it
    needs (the PPL), so a third-party backend's version reaches ``metrics.versions`` too."""
    p = plugins().get(name)
    if p is None:
        return {}
    out = {p.distribution: p.version} if p.distribution and p.version else {}
    return out | {r: v for r, v in p.requires.items() if v is not None}


@dataclass(frozen=True)
class BackendInfo:
    name: str
    version: str | None
    methods: tuple[str, ...]
    error: str | None = None


_loaded: dict[str, Backend] = {}
_failed: dict[str, str] = {}
_warned: set[str] = set()


def refresh() -> None:
    """Forget cached discovery (after installing a plugin in the same process)."""
    plugins.cache_clear()
    own_distribution.cache_clear()
    _loaded.clear()
    _failed.clear()
    _warned.clear()


#: What the core reads of every backend, whatever the method (``log_density``, ``samplers``,
#: ``distributions`` and the rest of ``backends.Backend`` are optional).  A plugin object
#: without one of these has not loaded as a backend: it is warned about like an import error,
#: not left to fail later inside a fit, or to be listed as offering the methods that need no
#: backend program at all.
REQUIRED = ("name", "methods", "version", "unsupported", "fit")


def _check_protocol(backend: object) -> None:
    missing = [a for a in REQUIRED if not hasattr(backend, a)]
    if missing:
        raise TypeError(
            f"{type(backend).__name__} is not a specrec backend: it has no {', '.join(missing)} "
            "(see specrec.backends.Backend)"
        )


def _try_load(name: str) -> Backend | None:
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        return None
    try:
        backend = plugins()[name].entry_point.load()()
        _check_protocol(backend)
    except Exception as exc:  # a broken plugin must not take specrec down
        _failed[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = backend
    return backend


def _warn_left_out(name: str) -> None:
    """Warn, once per name, that a backend is left out: not installed, or failed to load."""
    if name not in _warned:
        _warned.add(name)
        p = plugins()[name]
        if not p.available:
            warnings.warn(
                f"backend {name!r} is not installed and is left out ({p.hint})",
                BackendWarning,
                stacklevel=3,
            )
            return
        how = f"; {p.hint}" if p.hint else ""
        warnings.warn(
            f"backend {name!r} ({p.distribution} {p.version}) failed to load and is skipped: "
            f"{_failed[name]}{how}",
            BackendWarning,
            stacklevel=3,
        )


def installed() -> list[BackendInfo]:
    """Every registered backend, loaded: its version and methods, or the error that hid it."""
    out = []
    for name in plugins():
        b = _try_load(name)
        if b is None:
            out.append(BackendInfo(name, None, (), _failed[name]))
        else:
            out.append(BackendInfo(name, b.version, _offered(b)))
    return out


def available_names() -> list[str]:
    """The backends that are installed and load; each one left out is a ``BackendWarning``
    (once), not a silent gap.  One whose requirements are missing is not imported."""
    names = []
    for name, p in plugins().items():
        if p.available and _try_load(name) is not None:
            names.append(name)
        else:
            _warn_left_out(name)
    return names


def describe(load: bool = False) -> list[dict]:
    """One record per registered backend, for ``specrec backends``; ``load``: also import each
    one, adding its methods and the error that stops it loading (None when it loads)."""
    rows = []
    for name, p in plugins().items():
        row = {
            "name": name,
            "distribution": p.distribution,
            "version": p.version,
            "requires": p.requires,
            "available": p.available,
            "hint": p.hint,
        }
        if load:
            backend = _try_load(name)
            row["methods"] = list(_offered(backend)) if backend is not None else []
            row["error"] = _failed.get(name)
        rows.append(row)
    return rows


def unavailable() -> dict[str, str]:
    """Registered backends whose requirements are not installed, with the install hint
    (metadata only)."""
    return {n: p.hint or "" for n, p in plugins().items() if not p.available}


def get(name: str) -> Backend:
    """The backend called ``name``, or a BackendError that says what is installed."""
    registered = plugins()
    if name in registered:
        backend = _try_load(name)
        if backend is not None:
            return backend
        p = registered[name]
        how = p.hint or f"reinstall {p.distribution or 'the package providing ' + repr(name)}"
        raise BackendError(
            f"backend {name!r} is registered but failed to load ({_failed[name]}); {how}"
        )
    ready = [n for n, p in registered.items() if p.available]
    msg = f"unknown backend {name!r}; installed: {', '.join(ready) or 'none'}"
    close = difflib.get_close_matches(name, list(registered), n=1)
    if close:
        msg += f"; did you mean {close[0]!r}?"
    missing = [p.hint for p in registered.values() if not p.available and p.hint]
    if missing:
        msg += f" (add one with: {missing[0]})"
    raise BackendError(msg)


def _offered(backend: Any) -> tuple[str, ...]:
    """Native methods and those the core's kernels give it (``backends.offered_methods``)."""
    from specrec.backends import offered_methods

    return offered_methods(backend)
