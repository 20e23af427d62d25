"""Exit codes are decided in ``specrec.errors`` alone: no module of specrec or of its backends
exits with a number of its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: ``sys.exit(1)``, ``os._exit(2)``, ``SystemExit(130)``: an exit with a literal code.
LITERAL_EXIT = re.compile(r"\b(?:sys\.exit|os\._exit|SystemExit|ctx\.exit)\(\s*-?\d")


def test_no_literal_exit_code_outside_errors() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for top in ("specrec", "backends")
        for p in sorted((ROOT / top).rglob("*.py"))
        if p.relative_to(ROOT) != Path("specrec/errors.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if LITERAL_EXIT.search(line)
    ]
    assert found == [], "use the codes of specrec.errors:\n" + "\n".join(found)
