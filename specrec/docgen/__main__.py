"""``python -m specrec.docgen [--check] [ROOT]``: rewrite (or check) the generated pages."""

from __future__ import annotations

import sys
from pathlib import Path

from specrec.docgen import REGENERATE, stale, write


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    root = Path(args[0] if args else ".").resolve()
    if check:
        paths = stale(root)
        for p in paths:
            print(f"stale: {p}", file=sys.stderr)
        if paths:
            print(f"regenerate with: {REGENERATE}", file=sys.stderr)
        return 1 if paths else 0
    for p in write(root):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
