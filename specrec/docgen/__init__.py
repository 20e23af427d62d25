"""Generate the reference pages of the docs from the code, and check the committed ones.

Each page under ``docs/reference/`` is a function of specrec's own tables, models and CLI, so
the reference cannot drift from the code: ``python -m specrec.docgen`` (``make docs-gen``)
rewrites them, and a test regenerates them in memory and fails, naming that command, when a
committed page differs.  The marked blocks of the own-data guide are the output of commands
run on a small example folder (``specrec.docgen.own_data``): they take a minute, and compare
up to the last digits of a fit (``SAME``).  The tutorials' figures and outputs come from
``specrec.docgen.figures`` (``make docs-figures``), which runs fits and is not part of the
staleness test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from specrec.docgen.benchmarks import movielens_benchmarks, readme
from specrec.docgen.cli_ref import cli_page
from specrec.docgen.errors import errors_page
from specrec.docgen.own_data import guide, same_up_to_rounding
from specrec.docgen.spec_keys import spec_keys_page
from specrec.docgen.tables import distributions_page, functions_page, methods_page, metrics_page

REGENERATE = "make docs-gen  (or: python -m specrec.docgen)"

#: Page path (relative to the repository root) -> its generator, given the root.
PAGES: dict[str, Callable[[Path], str]] = {
    "docs/reference/spec.md": lambda root: spec_keys_page(),
    "docs/reference/distributions.md": lambda root: distributions_page(),
    "docs/reference/functions.md": lambda root: functions_page(),
    "docs/reference/methods.md": lambda root: methods_page(),
    "docs/reference/cli.md": lambda root: cli_page(),
    "docs/reference/metrics.md": lambda root: metrics_page(),
    "docs/errors.md": errors_page,
    # fragments included by pages (pymdownx.snippets), not pages themselves
    "docs/gen/movielens-benchmarks.md": movielens_benchmarks,
    # the README's benchmark table (only the block between its markers is generated)
    "README.md": readme,
    # the guide's terminal blocks (between markers), from running its commands (a minute)
    "docs/guides/own-data.md": guide,
}

#: Page path -> how its committed text is compared with a fresh one (default: equal).
SAME: dict[str, Callable[[str, str], bool]] = {"docs/guides/own-data.md": same_up_to_rounding}


def generate(root: Path, only: list[str] | None = None) -> dict[str, str]:
    """Page path -> its text, freshly generated."""
    return {p: fn(root) for p, fn in PAGES.items() if only is None or p in only}


def _differs(root: Path, path: str, text: str) -> bool:
    target = root / path
    same = SAME.get(path, str.__eq__)
    return not target.exists() or not same(target.read_text(encoding="utf-8"), text)


def write(root: Path) -> list[str]:
    """Rewrite every generated page that differs (as ``stale`` compares, so a fit's last digits
    from another machine do not rewrite the own-data guide); return the paths that changed."""
    changed = []
    for path, text in generate(root).items():
        if _differs(root, path, text):
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(root: Path, only: list[str] | None = None) -> list[str]:
    """Paths whose committed text differs from what the code generates now."""
    return [path for path, text in generate(root, only).items() if _differs(root, path, text)]
