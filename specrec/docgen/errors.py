"""The error gallery, built from the golden file of the spec-error tests.

``tests/spec/golden/errors.txt`` holds, for each case the tests check, the input and the exact
output of ``specrec validate``; the tests fail when it differs from what specrec prints, so a
page built from it can only show true messages.  The gallery shows the mistakes users make
most (``COMMON``, in reading order); the full list stays in the golden file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from specrec.docgen.markdown import page, wrap_output

GOLDEN = Path("tests/spec/golden/errors.txt")

#: Case ids from the golden file shown in the gallery, by topic.
COMMON: dict[str, list[str]] = {
    "YAML and keys": [
        "yaml-tab-indent",
        "unknown-top-level-key",
        "misspelt-nested-key",
        "duplicate-key",
        "missing-prior",
        "yaml-alias-refused",
        "yaml-tag-refused",
    ],
    "Values and settings": [
        "wrong-type",
        "factor-zero",
        "test-fraction-range",
        "simulate-density-and-rows",
        "unknown-method",
        "set-unknown-key",
        "set-not-yaml",
        "count-is-a-boolean",
        "lr-not-finite",
        "unknown-backend",
    ],
    "Expressions": [
        "unclosed-parenthesis",
        "flow-mapping-cut-at-comma",
        "python-is-not-evaluated",
        "unknown-function",
    ],
    "Distributions and arguments": [
        "unknown-distribution",
        "wrong-arg-count",
        "missing-arg",
        "scale-negative",
        "discrete-prior",
        "likelihood-without-mean",
        "likelihood-support-cannot-hold-data",
    ],
    "Names and dims": [
        "undefined-name",
        "unused-parameter",
        "dims-not-declared",
        "dot-of-mismatched-dims",
        "index-by-dim-the-parameter-lacks",
        "data-dim-parameter-not-indexed",
        "parameter-cycle",
    ],
    "Several problems at once": ["several-model-problems"],
}


@dataclass(frozen=True)
class GoldenCase:
    id: str
    input: str
    output: str


def read_golden(text: str) -> dict[str, GoldenCase]:
    """Parse ``=== id`` / input / ``--- output`` / output blocks."""
    cases = {}
    for block in text.split("=== ")[1:]:
        head, _, rest = block.partition("\n")
        given, _, output = rest.partition("--- output\n")
        cases[head.strip()] = GoldenCase(head.strip(), given.rstrip("\n"), output.rstrip("\n"))
    return cases


def read_base(text: str) -> list[str]:
    """The base spec shown before the first case (``    | line``), as lines."""
    head = text.split("=== ")[0]
    return [line[6:] for line in head.splitlines() if line.startswith("    |")]


def errors_page(root: Path) -> str:
    text = (root / GOLDEN).read_text(encoding="utf-8")
    cases = read_golden(text)
    base = "\n".join(f"{i:>2}  {line}".rstrip() for i, line in enumerate(read_base(text), 1))
    missing = [c for ids in COMMON.values() for c in ids if c not in cases]
    if missing:
        raise KeyError(f"gallery cases not in {GOLDEN}: {missing}; update COMMON in {__name__}")
    sections = []
    for topic, ids in COMMON.items():
        parts = [f"## {topic}\n"]
        for i in ids:
            c = cases[i]
            parts.append(
                f"### {i}\n\n```text\n{wrap_output(c.input)}\n```\n\n"
                f"`specrec validate spec.yaml` prints:\n\n```text\n{wrap_output(c.output)}\n```\n"
            )
        sections.append("\n".join(parts))
    return page(
        "Error gallery",
        str(GOLDEN),
        f"""
The most common mistakes in a spec and the exact message each produces. Most cases edit a
copy of the [quickstart spec](tutorials/quickstart.md), shown first (`'old' -> 'new'`: the
text replaced; line numbers refer to the edited file). Every message has the form `file:line:col: spec path:
what is wrong`, then what was `expected`, what was `found`, and a `hint` where specrec has
one; all problems of a file are reported at once, and `specrec validate` exits with code 2.

These are {sum(map(len, COMMON.values()))} of the {len(cases)} cases checked by
`tests/spec/test_spec_errors.py`; the full list, with every message, is
`tests/spec/golden/errors.txt`, from which this page is generated.
""",
        "## The spec the cases edit\n\nWith line numbers, which the messages below refer to:\n\n"
        f"```text\n{base}\n```\n",
        *sections,
    )
