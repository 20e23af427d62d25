"""No comment or docstring in the code says which issue a line came from (an issue number in
parentheses): that is the history's to tell (git log), and it rots as the code moves on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HISTORY = re.compile(r"\((?:issue\s+#?|#)\d+\)", re.IGNORECASE)

#: Files with such a reference that belong to another audit, each with whose it is.
LEFT_TO_THEIR_OWNERS: dict[str, str] = {}


def test_no_issue_numbers_in_the_code() -> None:
    found = {
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for top in ("specrec", "backends", "tests")
        for p in sorted((ROOT / top).rglob("*.py"))
        if str(p.relative_to(ROOT)) not in LEFT_TO_THEIR_OWNERS
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if HISTORY.search(line)
    }
    assert not found, "\n".join(sorted(found))
