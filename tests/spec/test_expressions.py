"""The expression parser: precedence, associativity, numbers, offsets, errors, ``to_text``.

Trees are compared through ``tree()``, a compact nested-tuple form without offsets; offsets
have tests of their own.
"""

from __future__ import annotations

import ast
import builtins
import random
from pathlib import Path

import pytest

import specrec
from specrec.spec import expressions as E
from specrec.spec.expressions import BinOp, Call, Index, Name, Neg, Num, ParseError, parse, to_text


def tree(node: E.Node) -> object:
    """Offsets dropped: Num -> float, Name -> str, the rest -> tuples headed by their kind."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Neg):
        return ("neg", tree(node.operand))
    if isinstance(node, BinOp):
        return (node.op, tree(node.left), tree(node.right))
    if isinstance(node, Index):
        return ("[]", tree(node.base), *(d.id for d in node.dims))
    assert isinstance(node, Call)
    kwargs = tuple((k, tree(v)) for k, v in node.kwargs)
    return ("call", node.func, tuple(tree(a) for a in node.args), kwargs)


# ---- precedence and associativity ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a + b * c", ("+", "a", ("*", "b", "c"))),
        ("a * b + c", ("+", ("*", "a", "b"), "c")),
        ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),  # left associative
        ("a / b / c", ("/", ("/", "a", "b"), "c")),
        ("a / b * c", ("*", ("/", "a", "b"), "c")),
        ("a - b + c", ("+", ("-", "a", "b"), "c")),
        ("a ^ b ^ c", ("^", "a", ("^", "b", "c"))),  # right associative
        ("a ** b ** c", ("^", "a", ("^", "b", "c"))),  # ** is ^
        ("a * b ^ c", ("*", "a", ("^", "b", "c"))),
        ("a ^ b * c", ("*", ("^", "a", "b"), "c")),
        ("-a ^ 2", ("neg", ("^", "a", 2.0))),  # -x^2 is -(x^2), as in maths and Python
        ("-a * b", ("*", ("neg", "a"), "b")),
        ("a * -b", ("*", "a", ("neg", "b"))),
        ("a ^ -b", ("^", "a", ("neg", "b"))),
        ("--a", ("neg", ("neg", "a"))),
        ("+a", "a"),  # unary plus is dropped
        ("a - -1", ("-", "a", ("neg", 1.0))),
        ("(-a) ^ 2", ("^", ("neg", "a"), 2.0)),
        ("U[user]", ("[]", "U", "user")),
        ("U[user] * 2", ("*", ("[]", "U", "user"), 2.0)),
        ("U[user] ^ 2", ("^", ("[]", "U", "user"), 2.0)),
        ("-U[user]", ("neg", ("[]", "U", "user"))),
        ("U[user][factor]", ("[]", ("[]", "U", "user"), "factor")),
        ("U[user, factor]", ("[]", "U", "user", "factor")),
        ("(a + b)[user]", ("[]", ("+", "a", "b"), "user")),
        ("f()", ("call", "f", (), ())),
        ("f(a, b + 1)", ("call", "f", ("a", ("+", "b", 1.0)), ())),
        ("Normal(0, sigma=s)", ("call", "Normal", (0.0,), (("sigma", "s"),))),
        ("Normal(mu=1, sigma=2)", ("call", "Normal", (), (("mu", 1.0), ("sigma", 2.0)))),
        ("f(g(x))[u]", ("[]", ("call", "f", (("call", "g", ("x",), ()),), ()), "u")),
        ("  a  +  b  ", ("+", "a", "b")),
        ("mu + dot(U[user], V[item])",
         ("+", "mu", ("call", "dot", (("[]", "U", "user"), ("[]", "V", "item")), ()))),
    ],
)  # fmt: skip
def test_structure(text: str, expected: object):
    assert tree(parse(text)) == expected


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", 1.0),
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("1e-3", 1e-3),
        ("1E3", 1000.0),
        ("2.5e+2", 250.0),
        (".5e1", 5.0),
        ("007", 7.0),
    ],
)
def test_numbers(text: str, value: float):
    node = parse(text)
    assert isinstance(node, Num) and node.value == value


def test_negative_number_is_negation():
    assert tree(parse("-1e-3")) == ("neg", 1e-3)


def test_names_may_hold_underscores_and_digits():
    assert tree(parse("_a1 + mu_u2")) == ("+", "_a1", "mu_u2")


# ---- offsets ---------------------------------------------------------------------------------


def test_offsets_of_nodes():
    text = "mu + dot(U[user], V[item]) * -x ^ 2"
    #       0123456789012345678901234567890123456
    node = parse(text)
    assert isinstance(node, BinOp) and node.op == "+" and node.offset == 3
    assert node.left == Name("mu", 0)
    mul = node.right
    assert isinstance(mul, BinOp) and mul.op == "*" and mul.offset == 27
    dot = mul.left
    assert isinstance(dot, Call) and dot.func == "dot" and dot.offset == 5
    u, v = dot.args
    assert isinstance(u, Index) and u.offset == 10  # the '['
    assert u.base == Name("U", 9) and u.dims == (Name("user", 11),)
    assert isinstance(v, Index) and v.base == Name("V", 18) and v.dims == (Name("item", 20),)
    neg = mul.right
    assert isinstance(neg, Neg) and neg.offset == 29
    power = neg.operand
    assert isinstance(power, BinOp) and power.op == "^" and power.offset == 32
    assert power.left == Name("x", 30) and power.right == Num(2.0, 34)


def test_offsets_of_keyword_arguments():
    node = parse("Normal(0, sigma = s)")
    assert isinstance(node, Call)
    assert node.kwarg_offsets == (10,)
    assert node.kwargs == (("sigma", Name("s", 18)),)


@pytest.mark.parametrize(
    "text, start",
    [("a + b", 0), ("  (a) * b", 3), ("U[user]", 0), ("-x", 0), ("f(1) - 2", 0), ("3", 0)],
)
def test_start_is_the_first_character(text: str, start: int):
    assert E.start(parse(text)) == start


# ---- parse errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message, offset",
    [
        ("", "expected a number, a name or '(', found end of expression", 0),
        ("   ", "expected a number, a name or '(', found end of expression", 3),
        ("1 +", "expected a number, a name or '(', found end of expression", 3),
        ("1 +* 2", "expected a number, a name or '(', found '*'", 3),
        ("f(,)", "expected a number, a name or '(', found ','", 2),
        ("()", "expected a number, a name or '(', found ')'", 1),
        ("* 2", "expected a number, a name or '(', found '*'", 0),
        ("(a + b", "expected ')', found end of expression", 6),
        ("f(a b)", "expected ')', found 'b'", 4),
        ("Normal(3.5, 1", "expected ')', found end of expression", 13),
        ("U[user", "expected ']', found end of expression", 6),
        ("U[user factor]", "expected ']', found 'factor'", 7),
        ("U[", "expected a dim name, found end of expression", 2),
        ("U[1]", "expected a dim name, found '1'", 2),
        ("U[user,]", "expected a dim name, found ']'", 7),
        ("f(a=1, 2)", "positional argument after a keyword argument", 7),
        ("1 2", "unexpected '2' after a complete expression", 2),
        ("a b", "unexpected 'b' after a complete expression", 2),
        ("1e", "unexpected 'e' after a complete expression", 1),
        ("f(1))", "unexpected ')' after a complete expression", 4),
        ("a = 1", "unexpected '=' after a complete expression", 2),
        ("a $ b", "unexpected character '$'", 2),
        ("a.b", "unexpected character '.'", 1),
        ("a < b", "unexpected character '<'", 2),
        ("'x'", 'unexpected character "\'"', 0),
        ("f(x) # note", "unexpected character '#'", 5),
    ],
)
def test_parse_errors(text: str, message: str, offset: int):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert (info.value.message, info.value.offset) == (message, offset)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# ---- to_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("1", "1"),
        ("1.0", "1"),
        (".5", "0.5"),
        ("1e-3", "0.001"),
        ("2.5e20", "2.5e+20"),
        ("a+b*c", "(a + (b * c))"),
        ("a ** 2", "(a ^ 2)"),
        ("-x", "-x"),
        ("(-x) ^ 2", "((-x) ^ 2)"),
        ("(-U)[user]", "(-U)[user]"),
        ("Normal(0, sigma = 1)", "Normal(0, sigma=1)"),
        ("U[user, factor]", "U[user, factor]"),
        ("f()", "f()"),
    ],
)
def test_to_text(text: str, canonical: str):
    assert to_text(parse(text)) == canonical


ROUND_TRIP = [
    "mu + dot(U[user], V[item])",
    "Normal(mean(rating) + b_u[user] + dot(U[user], V[item]), sigma)",
    "sqrt(mean(dense_var_by(rating, user)))",
    "1 / sqrt(alpha)",
    "-a ^ -b ^ c",
    "(-a) ^ 2",
    "(-U)[user]",
    "--x - -y",
    "a - (b - c)",
    "a / (b / c)",
    "(a ^ b) ^ c",
    "f(a=1, b=-2)",
    "1e-3 * .5",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_to_text_round_trip(text: str):
    node = parse(text)
    again = parse(to_text(node))
    assert tree(again) == tree(node)
    assert to_text(again) == to_text(node)


def _random_tree(rng: random.Random, depth: int) -> E.Node:
    if depth == 0 or rng.random() < 0.2:
        return Num(float(rng.choice([0, 1, 2.5, 1e-3])), 0) if rng.random() < 0.5 else Name("x", 0)
    kind = rng.choice(["bin", "bin", "neg", "index", "call"])
    if kind == "bin":
        op = rng.choice("+-*/^")
        return BinOp(op, _random_tree(rng, depth - 1), _random_tree(rng, depth - 1), 0)
    if kind == "neg":
        return Neg(_random_tree(rng, depth - 1), 0)
    if kind == "index":
        return Index(_random_tree(rng, depth - 1), (Name("user", 0),), 0)
    args = tuple(_random_tree(rng, depth - 1) for _ in range(rng.randint(0, 2)))
    return Call("f", args, (("k", _random_tree(rng, depth - 1)),) if rng.random() < 0.3 else (), 0)


def test_to_text_round_trip_of_random_trees():
    rng = random.Random(0)
    for _ in range(500):
        node = _random_tree(rng, 5)
        assert tree(parse(to_text(node))) == tree(node), to_text(node)


def test_names_in():
    node = parse("Normal(mu + dot(U[user], V[item]), s=sigma ^ k)")
    assert [n.id for n in E.names_in(node)] == ["mu", "U", "V", "sigma", "k"]


# ---- no eval ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo pwned')",
        "open('/etc/passwd').read()",
        "(lambda: 1)()",
        "[x for x in y]",
        "a.__class__",
    ],
)
def test_python_is_a_parse_error(text: str):
    with pytest.raises(ParseError):
        parse(text)


def test_python_names_are_only_names(monkeypatch: pytest.MonkeyPatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert tree(parse("__import__(os)")) == ("call", "__import__", ("os",), ())
    assert tree(parse("exec(x) + eval(y)"))[0] == "+"


def test_no_eval_in_the_spec_language():
    """Neither the parser nor the lowering calls eval, exec or compile."""
    root = Path(specrec.__file__).parent
    modules = ["spec/expressions.py", "spec/load.py", "spec/positions.py", "model/lower.py"]
    modules += [str(p.relative_to(root)) for p in sorted((root / "model/lowering").glob("*.py"))]
    assert len(modules) > 8  # the lowering passes were found
    for module in modules:
        source = (root / module).read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), module
        assert "yaml.load(" not in source and "yaml.Loader" not in source


def test_children_cover_every_sub_expression():
    """names_in (built on children) sees names in arguments, keywords, indexed bases, operands."""
    from specrec.spec.expressions import children, names_in

    node = parse("-Normal(a[user] + dot(U[user], V[item]), sigma=s ^ 2)")
    assert [n.id for n in names_in(node)] == ["a", "U", "V", "s"]
    assert children(parse("x")) == () and len(children(parse("f(x, y, k=z)"))) == 3
