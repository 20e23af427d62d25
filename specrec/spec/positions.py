"""YAML text -> plain Python data plus the source position of every node.

Errors must point at ``file:line:col``; PyYAML forgets positions once it builds Python objects, so
this walks the composed node tree itself (dagster's ``source_position`` idea): one ``SafeLoader``
(no tags that construct objects, so a spec can never run code), plain dicts and lists out, and a
table from each path (a tuple of keys and indices) to where its value starts.  Duplicate keys,
which YAML would silently let the last one win, are reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from specrec.errors import Problem, shown

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based
    quoted: bool = False  # a quoted scalar's text starts one column later
    origin: str | None = None  # not from the file: where it came from (``--set KEY=VALUE``)


@dataclass
class PositionMap:
    """Where each value (and each mapping key) starts in the file."""

    file: str
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    text: str = ""
    # scalars whose text is not one line of the file (block `|`/`>` or folded over lines):
    # path -> (start index, end index, parsed value), so an offset can be traced back
    spans: dict[Path, tuple[int, int, str]] = field(default_factory=dict)

    def lookup(self, path: Path, *, key: bool = False) -> Position | None:
        """Position of ``path``, falling back to the nearest parent that has one."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get(())

    def problem(
        self, path: Path, message: str, *, key: bool = False, offset: int = 0, **kw
    ) -> Problem:
        """A Problem located at ``path``; ``offset`` moves into a one-line scalar (expressions)."""
        pos = self.lookup(path, key=key)
        if pos is not None and pos.origin is not None:
            return Problem(pos.origin, None, None, format_path(path), message, **kw)
        below = [
            q.origin
            for p, q in self.values.items()
            if q.origin is not None and len(p) > len(path) and tuple(p[: len(path)]) == tuple(path)
        ]
        if (
            below
        ):  # the file's mapping is at fault only together with a value set on the command line
            message = f"{message} (with {', '.join(below)})"
        span = self.spans.get(tuple(path)) if not key else None
        located = self._locate(*span, offset) if span else None
        if located is not None:
            return Problem(self.file, *located, format_path(path), message, **kw)
        line = pos.line if pos else None
        col = pos.column + offset + (1 if pos and pos.quoted and offset else 0) if pos else None
        return Problem(self.file, line, col, format_path(path), message, **kw)

    def _locate(self, start: int, end: int, value: str, offset: int) -> tuple[int, int] | None:
        """Line and column of ``value[offset]`` in a scalar spread over several lines.

        Walks the parsed value and the source together: a run of whitespace in the value
        (a folded line break) matches any run of spaces and line breaks in the source.
        """
        src, j = self.text, start
        if src[j : j + 1] in ("|", ">"):
            j = src.find("\n", j) + 1  # the content starts on the line after the indicator
        elif src[j : j + 1] in ("'", '"'):
            j += 1
        for ch in value[:offset]:
            if ch.isspace():
                while j < end and src[j] in " \t\r\n":
                    j += 1
            else:
                while j < end and src[j] != ch:
                    j += 1
                j += 1
        while j < end and src[j] in " \t\r\n":
            j += 1
        if not 0 < j < end:
            return None
        line_start = src.rfind("\n", 0, j) + 1
        return src.count("\n", 0, j) + 1, j - line_start + 1


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pos(node: yaml.Node) -> Position:
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Position(node.start_mark.line + 1, node.start_mark.column + 1, quoted)


#: Largest spec or study file (and ``--set`` value) read, in characters: parsing is linear, but
#: a spec is a page of text, and a bigger input is a mistake or an attack.
MAX_TEXT = 256 * 1024
#: Deepest nesting of lists and mappings; a spec needs about six levels.
MAX_DEPTH = 64
_PLAIN_TAGS = {None, "!"}


class RefusedYAML(yaml.MarkedYAMLError):
    """YAML that parses but is refused: too deep, an alias or merge key, a tag."""

    def __init__(self, problem: str, mark: yaml.Mark | None, hint: str | None = None):
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


_ALIAS_HINT = "anchors (&name), aliases (*name) and merge keys (<<) are refused; write values out"


class _Loader(yaml.SafeLoader):
    """A ``SafeLoader`` that refuses aliases, explicit tags and deep nesting while composing,
    before any tree is walked: an alias bomb or ten thousand nested ``[`` end in a Problem,
    never in a hang or a ``RecursionError``."""

    depth = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise RefusedYAML(
                f"alias *{event.anchor} is not allowed", event.start_mark, _ALIAS_HINT
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise RefusedYAML(f"anchor &{anchor} is not allowed", event.start_mark, _ALIAS_HINT)
        tag = getattr(event, "tag", None)
        if tag not in _PLAIN_TAGS:
            raise RefusedYAML(
                f"YAML tag {tag} is not allowed",
                event.start_mark,
                "a spec holds plain scalars, lists and mappings only; remove the tag",
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise RefusedYAML(
                    f"nested deeper than {MAX_DEPTH} levels of lists and mappings",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(text: str, file: str) -> tuple[object, PositionMap, list[Problem]]:
    """Parse YAML safely; return the data, its positions and any duplicate-key problems.

    Raises ``yaml.YAMLError`` for text that is not YAML or is refused (``RefusedYAML``); the
    caller turns that into a Problem.
    """
    if len(text) > MAX_TEXT:
        raise RefusedYAML(f"the text is {len(text)} characters, more than {MAX_TEXT}", None)
    loader = _Loader(text)
    positions = PositionMap(file, text=text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()

        def build(n: yaml.Node, path: Path) -> object:
            positions.values[path] = _pos(n)
            if isinstance(n, yaml.MappingNode):
                out: dict = {}
                for key_node, value_node in n.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        raise RefusedYAML(
                            "merge key << is not allowed", key_node.start_mark, _ALIAS_HINT
                        )
                    # Keys are names: take the text as written (YAML 1.1 reads `true:` as a bool).
                    if isinstance(key_node, yaml.ScalarNode):
                        key = key_node.value
                    else:
                        key = str(loader.construct_object(key_node, deep=True))
                    child = (*path, key)
                    if key in out:
                        first = positions.keys[child]
                        problems.append(
                            Problem(
                                file,
                                key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1,
                                format_path(child),
                                "duplicate key",
                                hint=f"first given at line {first.line}; "
                                "YAML would keep only the last",
                            )
                        )
                    positions.keys[child] = _pos(key_node)
                    out[key] = build(value_node, child)
                    if n.flow_style:
                        _check_flow_cut(key, out[key], key_node, child)
                return out
            if isinstance(n, yaml.SequenceNode):
                return [build(v, (*path, i)) for i, v in enumerate(n.value)]
            value = loader.construct_object(n, deep=True)
            multiline = n.style in ("|", ">") or n.start_mark.line != n.end_mark.line
            if isinstance(value, str) and multiline:
                positions.spans[path] = (n.start_mark.index, n.end_mark.index, value)
            return value

        def _check_flow_cut(key: str, value: object, key_node: yaml.Node, path: Path) -> None:
            # In a flow mapping {prior: Normal(0, 1)} the comma ends the value; say so plainly.
            for text in (key, value):
                if isinstance(text, str) and text.count("(") > text.count(")"):
                    problems.append(
                        Problem(
                            file,
                            key_node.start_mark.line + 1,
                            key_node.start_mark.column + 1,
                            format_path(path),
                            "an expression was cut at a comma inside a flow mapping {...}",
                            found=shown(text),
                            hint='quote the expression (prior: "Normal(0, 1)") or use block style',
                        )
                    )
                    return

        data = build(node, ()) if node is not None else None
    finally:
        loader.dispose()
    return data, positions, problems
