"""Checks that a page shows user text literally; shared by the tests of every HTML page."""

from __future__ import annotations

import html
from html.parser import HTMLParser

#: texts that are markup in HTML or Markdown, or mathtext in matplotlib
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<b>bold</b> & <i>",
    "cost $\\frac{$ in $",
    "a | b `tick` *star*",
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


#: the tags the pages themselves use; anything else came from user text
PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "thead",
    "tbody", "tr", "th", "td", "figure", "img", "figcaption", "ul", "li", "pre", "code", "a",
}  # fmt: skip


def assert_only_page_markup(page: str, text: str) -> None:
    """No tag or event attribute from ``text`` survived, and ``text`` itself is on the page."""
    parser = Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag in PAGE_TAGS, f"{tag} from user text"
        assert not [a for a in attrs if a.startswith("on")], attrs
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        if tag == "a":  # the run report links its own files, by relative paths only
            href = attrs["href"]
            assert ":" not in href and not href.startswith("/") and ".tmp-" not in href, href
    assert "<script>" not in page
    assert html.escape(" ".join(text.split()), quote=False) in page or html.escape(text) in page
