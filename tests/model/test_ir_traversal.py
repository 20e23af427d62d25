"""Every expression node states its children, so generic traversals cannot miss a node kind."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import numpy as np
import pytest

from specrec.model import ir
from specrec.model.ir import (
    OBS,
    Align,
    Apply,
    Column,
    Const,
    Expr,
    Gather,
    ParamRef,
    RowData,
    Segment,
    Sum,
    walk,
)

A = ParamRef("a", ("user",))
B = Const(np.asarray(2.0), (), "2")

#: one example of each node kind (a new kind without an example fails the coverage test)
EXAMPLES: dict[type, Expr] = {
    Const: B,
    ParamRef: A,
    Column: Column("x"),
    Gather: Gather(A, "user", (OBS,)),
    Apply: Apply("mul", (A, B), ("user",)),
    Sum: Sum(ParamRef("f", ("factor",)), "factor", ()),
    Align: Align(A, ("user", "factor")),
    Segment: Segment(Column("x"), "user", RowData(np.zeros(0), {}, {}), np.ones(2), ("user",)),
}


def _node_kinds() -> set[type]:
    found, todo = set(), [Expr]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if is_dataclass(sub) and sub.__module__ == ir.__name__:
                found.add(sub)
    return found


def _expr_fields(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions read off the dataclass fields (what children() must return)."""
    out: list[Expr] = []
    for f in fields(e):  # type: ignore[arg-type]
        v = getattr(e, f.name)
        if isinstance(v, Expr):
            out.append(v)
        elif isinstance(v, tuple):
            out += [x for x in v if isinstance(x, Expr)]
    return tuple(out)


def test_every_node_kind_has_an_example():
    assert _node_kinds() == set(EXAMPLES)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.__name__)
def test_children_are_the_expression_fields(kind: type):
    e = EXAMPLES[kind]
    assert e.children() == _expr_fields(e)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.__name__)
def test_map_children_replaces_each_child(kind: type):
    e = EXAMPLES[kind]
    marker = Column("marker")
    mapped = e.map_children(lambda c: marker)
    if not e.children():
        assert mapped is e
        return
    assert type(mapped) is kind
    assert mapped.children() == (marker,) * len(e.children())
    assert mapped.dims == e.dims
    assert e.map_children(lambda c: c) == e


def test_walk_visits_parents_before_children():
    e = Apply("add", (Gather(A, "user", (OBS,)), B), (OBS,))
    assert list(walk(e)) == [e, e.args[0], A, B]
