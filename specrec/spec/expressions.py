"""The expression language of a spec, parsed by a small recursive-descent parser (never ``eval``).

Grammar (precedence low to high)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := "-" unary | power
    power   := postfix (("^" | "**") unary)?
    postfix := atom ("[" NAME ("," NAME)* "]")*
    atom    := NUMBER | NAME | NAME "(" [arg ("," arg)*] ")" | "(" expr ")"
    arg     := [NAME "="] expr

Every node keeps the character offset where it starts, so an error can point at the exact column
inside the YAML scalar it came from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from specrec.errors import shown


class ParseError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message, self.offset = message, offset


@dataclass(frozen=True)
class Num:
    value: float
    offset: int


@dataclass(frozen=True)
class Name:
    id: str
    offset: int


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    offset: int
    kwarg_offsets: tuple[int, ...] = field(default=(), compare=False)  # where each keyword starts


@dataclass(frozen=True)
class Index:
    base: Node
    dims: tuple[Name, ...]
    offset: int


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ^
    left: Node
    right: Node
    offset: int


@dataclass(frozen=True)
class Neg:
    operand: Node
    offset: int


Node = Num | Name | Call | Index | BinOp | Neg

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/^()\[\],=]))"
)


_SPACE = re.compile(r"\s*")

#: Longest expression parsed, in characters, and deepest nesting of parentheses, calls, unary
#: minus and powers: the parser and every walk over its tree recurse once per level.
MAX_LENGTH = 10_000
MAX_DEPTH = 50
#: Deepest expression tree: a chain ``a + b + c + ...`` nests one level per operator (it is
#: parsed in a loop, but lowered, evaluated and printed by recursion over the tree).
MAX_TREE_DEPTH = 200


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        skip = _SPACE.match(text, pos)
        if skip is not None and skip.end() == len(text):
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = skip.end() if skip is not None else pos
            raise ParseError(f"unexpected character {text[bad]!r}", bad)
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text, off = self.take()
        if text != value:
            found = "end of expression" if kind == "end" else shown(text)
            raise ParseError(f"expected {value!r}, found {found}", off)

    def expr(self) -> Node:
        node = self.term()
        while self.peek()[1] in ("+", "-"):
            _, op, off = self.take()
            node = BinOp(op, node, self.term(), off)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek()[1] in ("*", "/"):
            _, op, off = self.take()
            node = BinOp(op, node, self.unary(), off)
        return node

    def unary(self) -> Node:
        # every nesting (parentheses, call arguments, -, ^) passes through here
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ParseError(f"nested deeper than {MAX_DEPTH} levels", self.peek()[2])
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Node:
        if self.peek()[1] == "-":
            _, _, off = self.take()
            return Neg(self.unary(), off)
        if self.peek()[1] == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        node = self.postfix()
        if self.peek()[1] in ("^", "**"):
            _, _, off = self.take()
            node = BinOp("^", node, self.unary(), off)
        return node

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek()[1] == "[":
            _, _, off = self.take()
            dims = [self.name()]
            while self.peek()[1] == ",":
                self.take()
                dims.append(self.name())
            self.expect("]")
            node = Index(node, tuple(dims), off)
        return node

    def name(self) -> Name:
        kind, text, off = self.take()
        if kind != "name":
            found = "end of expression" if kind == "end" else shown(text)
            raise ParseError(f"expected a dim name, found {found}", off)
        return Name(text, off)

    def atom(self) -> Node:
        kind, text, off = self.take()
        if kind == "num":
            value = float(text)
            if not math.isfinite(value):  # 1e999: a literal too large for a float64
                raise ParseError(f"the number {text} is too large (more than 1.8e308)", off)
            return Num(value, off)
        if kind == "name":
            if self.peek()[1] != "(":
                return Name(text, off)
            self.take()
            args: list[Node] = []
            kwargs: list[tuple[str, Node]] = []
            kw_offsets: list[int] = []
            if self.peek()[1] != ")":
                while True:
                    k, t, kw_off = self.peek()
                    if k == "name" and self.toks[self.i + 1][1] == "=":
                        self.i += 2
                        kwargs.append((t, self.expr()))
                        kw_offsets.append(kw_off)
                    else:
                        if kwargs:
                            raise ParseError(
                                "positional argument after a keyword argument", self.peek()[2]
                            )
                        args.append(self.expr())
                    if self.peek()[1] != ",":
                        break
                    self.take()
            self.expect(")")
            return Call(text, tuple(args), tuple(kwargs), off, tuple(kw_offsets))
        if text == "(":
            node = self.expr()
            self.expect(")")
            return node
        found = "end of expression" if kind == "end" else shown(text)
        raise ParseError(f"expected a number, a name or '(', found {found}", off)


def parse(text: str) -> Node:
    """Parse one expression; raises ``ParseError`` with the offset of the first bad token."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is {len(text)} characters, more than {MAX_LENGTH}", 0)
    p = _Parser(text)
    node = p.expr()
    kind, tok, off = p.peek()
    if kind != "end":
        raise ParseError(f"unexpected {tok!r} after a complete expression", off)
    depth, deepest = _tree_depth(node)
    if depth > MAX_TREE_DEPTH:
        raise ParseError(
            f"nested deeper than {MAX_TREE_DEPTH} levels (each operator of a chain such as "
            "a + b + c nests one level; group a long chain in parentheses: (a + b) + (c + d))",
            deepest.offset,
        )
    return node


def _tree_depth(node: Node) -> tuple[int, Node]:
    """The depth of ``node``'s tree and its leftmost node at that depth, found without
    recursion (a left operand is popped after the right one, so ``>=`` keeps the left)."""
    best, stack = (1, node), [(node, 1)]
    while stack:
        n, d = stack.pop()
        if d >= best[0]:
            best = (d, n)
        stack.extend((c, d + 1) for c in children(n))
    return best


def start(node: Node) -> int:
    """Offset of the first character of ``node``'s text (a BinOp's own offset is its operator)."""
    if isinstance(node, BinOp):
        return start(node.left)
    if isinstance(node, Index):
        return start(node.base)
    return node.offset


def children(node: Node) -> tuple[Node, ...]:
    """The sub-expressions of ``node`` (call arguments, keyword values, an indexed base, the
    operands): the one place that knows the tree's shape, so walks over it do not repeat it.
    Index dims and function names are labels, not sub-expressions."""
    if isinstance(node, Call):
        return (*node.args, *(v for _, v in node.kwargs))
    if isinstance(node, Index):
        return (node.base,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Neg):
        return (node.operand,)
    return ()


def names_in(node: Node) -> list[Name]:
    """Every bare name the expression refers to (function names and index dims excluded)."""
    if isinstance(node, Name):
        return [node]
    return [n for c in children(node) for n in names_in(c)]


def to_text(node: Node) -> str:
    """Canonical text of an expression (used in resolved specs and messages)."""
    if isinstance(node, Num):
        v = node.value
        return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Call):
        parts = [to_text(a) for a in node.args] + [f"{k}={to_text(v)}" for k, v in node.kwargs]
        return f"{node.func}({', '.join(parts)})"
    if isinstance(node, Index):
        return f"{_operand_text(node.base)}[{', '.join(d.id for d in node.dims)}]"
    if isinstance(node, BinOp):
        left = _operand_text(node.left) if node.op == "^" else to_text(node.left)
        return f"({left} {node.op} {to_text(node.right)})"
    return f"-{to_text(node.operand)}"


def _operand_text(node: Node) -> str:
    # `-x` binds looser than `^` and `[...]`: (-2)^2 and (-U)[user] keep their parentheses
    return f"({to_text(node)})" if isinstance(node, Neg) else to_text(node)
