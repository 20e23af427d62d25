"""Generated blocks inside hand-written Markdown: one marker syntax, one splicer.

A page whose prose is written by hand but some of whose blocks are generated (the own-data
guide's terminal output, the README's benchmark table) marks each block::

    <!-- begin generated: NAME -->
    ...
    <!-- end generated: NAME -->

and ``splice`` rewrites the blocks between the markers, leaving every other line as written.
It checks both ways: every block made must be marked exactly once and every marker must name
a block made, so a page and its generator cannot drift apart silently (a deleted marker would
otherwise leave a stale block, or no block, with nothing failing).
"""

from __future__ import annotations

import re

BEGIN = "<!-- begin generated: {} -->"
END = "<!-- end generated: {} -->"
MARKED = re.compile(r"<!-- begin generated: ([\w-]+) -->\n(.*?)\n<!-- end generated: \1 -->", re.S)


def marked(text: str) -> dict[str, str]:
    """Block name -> the text between its markers, as the page has it now."""
    return dict(MARKED.findall(text))


def splice(text: str, made: dict[str, str], page: object, generator: str) -> str:
    """``text`` with each marked block replaced by ``made[name]``.

    ``page`` (the file) and ``generator`` (the module that makes the blocks) name what to
    update when the markers and the blocks disagree.
    """
    found = [name for name, _ in MARKED.findall(text)]
    missing = sorted(set(made) - set(found))
    unknown = sorted(set(found) - set(made))
    twice = sorted({n for n in found if found.count(n) > 1})
    if missing or unknown or twice:
        raise ValueError(
            f"{page}: blocks without markers {missing}, markers of no block {unknown}, "
            f"marked twice {twice}; update the page or the blocks of {generator}"
        )
    return MARKED.sub(lambda m: f"{BEGIN.format(m[1])}\n{made[m[1]]}\n{END.format(m[1])}", text)
