"""Hostile specs and ``--set`` values, generated from every shipped spec so a new one is covered.

Each class of bad input must end in a positioned ``SpecError`` (exit 2) quickly: never a
``RecursionError``, a hang, a raw YAML exception, or a value that validates but cannot work.
"""

from __future__ import annotations

import time
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT, SpecError
from specrec.model.lower import check
from specrec.spec import expressions, models, positions
from specrec.spec.load import parse_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"
ALL_SPECS = sorted(p for p in SPECS.rglob("*.yaml") if "studies" not in p.parts)
IDS = [str(p.relative_to(SPECS)) for p in ALL_SPECS]


def _refused(text: str, overrides: list[str] | None = None, budget: float = 2.0) -> SpecError:
    t0 = time.perf_counter()
    with pytest.raises(SpecError) as info:
        check(parse_spec_text(text, "hostile.yaml", overrides))
    assert time.perf_counter() - t0 < budget
    return info.value


def _at_line(err: SpecError) -> None:
    assert all(p.file == "hostile.yaml" and p.line is not None for p in err.problems), str(err)


N = 5000
HOSTILE_TEXT = {
    "flow nesting": "\nextra: " + "[" * N + "]" * N + "\n",
    "block nesting": "\nextra:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(200)),
    "alias bomb": "\nlol: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"l{i}: &a{i} [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" for i in range(9)),
    "merge key": "\nextra: {<<: {a: 1}, a: 2}\n",
    "python tag": "\nextra: !!python/object/apply:os.system [echo hi]\n",
    "binary tag": "\nextra: !!binary aGVsbG8=\n",
    "local tag": "\nextra: !mine {a: 1}\n",
    "nul byte": "\nextra: a\x00b\n",
}
MESSAGES = {
    "flow nesting": "nested deeper than",
    "block nesting": "nested deeper than",
    "alias bomb": "anchor &a is not allowed",
    "merge key": "merge key << is not allowed",
    "python tag": "tag:yaml.org,2002:python/object/apply:os.system",
    "binary tag": "tag:yaml.org,2002:binary",
    "local tag": "tag !mine",
    "nul byte": "the control character U+0000 is not allowed",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXT))
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_hostile_yaml_is_refused_with_its_position(spec: Path, kind: str) -> None:
    err = _refused(spec.read_text() + HOSTILE_TEXT[kind])
    _at_line(err)
    assert MESSAGES[kind] in str(err)


def test_a_control_character_is_placed_at_its_line_and_column() -> None:
    """PyYAML's reader refuses it before parsing, with a character offset and no line."""
    err = _refused("specrec: 1\nname: ab\x07c\n")
    assert [(p.line, p.column) for p in err.problems] == [(2, 9)], str(err)
    assert "U+0007" in str(err)


def test_block_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = positions.MAX_DEPTH + 5
    text = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "x\n"
    err = _refused(text)
    assert "nested deeper than" in str(err) and err.problems[0].line is not None


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_oversized_text_is_refused_at_once(spec: Path) -> None:
    long_line = "# " + "x" * positions.MAX_TEXT + "\n"
    err = _refused(spec.read_text() + long_line, budget=1.0)
    assert f"more than {positions.MAX_TEXT}" in str(err)


DEEP = 10_000 // 4  # within MAX_LENGTH, far deeper than MAX_DEPTH
EXPRESSIONS = {
    "parentheses": "(" * DEEP + "1" + ")" * DEEP,
    "unary minus": "-" * DEEP + "1",
    "power chain": "2^" * DEEP + "1",
    "nested calls": "exp(" * (DEEP // 2) + "1" + ")" * (DEEP // 2),
}


@pytest.mark.parametrize("kind", sorted(EXPRESSIONS))
def test_deep_expressions_are_refused_by_the_parser(kind: str) -> None:
    with pytest.raises(expressions.ParseError, match="nested deeper than"):
        expressions.parse(EXPRESSIONS[kind])


def test_long_expressions_are_refused_and_parsing_is_linear() -> None:
    with pytest.raises(expressions.ParseError, match="more than"):
        expressions.parse("1 + " * expressions.MAX_LENGTH)
    t0 = time.perf_counter()
    with pytest.raises(expressions.ParseError, match="nested deeper"):  # parsed, then too deep
        expressions.parse(" + ".join(["1"] * (expressions.MAX_LENGTH // 4 - 1)))
    assert time.perf_counter() - t0 < 1.0


def test_a_long_operator_chain_is_refused_by_its_depth() -> None:
    """``1 + 1 + ...`` within MAX_LENGTH parses in a loop but nests one level per operator:
    1,990 of them ended in a RecursionError at exit 1 when the spec was lowered."""
    chain = " + ".join(["x"] * (expressions.MAX_LENGTH // 5))
    with pytest.raises(expressions.ParseError, match="nested deeper than 200 levels") as info:
        expressions.parse(chain)
    assert info.value.offset == 0  # the chain's deepest operand: its first
    expressions.parse(" + ".join(["x"] * expressions.MAX_TREE_DEPTH))  # the limit itself is fine


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_long_operator_chain_in_a_spec_is_positioned(spec: Path) -> None:
    prior = "Normal(" + " + ".join(["1"] * 1500) + ", 1)"
    err = _refused(spec.read_text(), [f"params.zz_chain={prior}"])
    assert err.problems[0].path == "params.zz_chain" and "nested deeper than" in str(err)
    err = _refused(spec.read_text().replace("\nparams:\n", f"\nparams:\n  zz_chain: {prior}\n", 1))
    _at_line(err)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_number_too_large_for_a_float_is_positioned(spec: Path) -> None:
    """1e999 is inf to Python: a positioned parse error, not an OverflowError at exit 1."""
    err = _refused(spec.read_text(), ["params.zz_big=Normal(1e999, 1)"])
    assert err.problems[0].path == "params.zz_big" and "1e999 is too large" in str(err)
    text = spec.read_text().replace("\nparams:\n", "\nparams:\n  zz_big: Normal(0, 1e999)\n", 1)
    err = _refused(text)
    _at_line(err)
    assert "1e999 is too large" in str(err)


@pytest.mark.parametrize("kind", sorted(EXPRESSIONS))
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_deep_expression_in_a_spec_is_positioned(spec: Path, kind: str) -> None:
    text = spec.read_text()
    prior = f"Normal({EXPRESSIONS[kind]}, 1)"
    err = _refused(text, [f"params.zz_deep={prior}"])
    assert err.problems[0].path == "params.zz_deep" and "nested deeper than" in str(err)
    # the same expression written in the file is positioned on its line
    err = _refused(text.replace("\nparams:\n", f"\nparams:\n  zz_deep: '{prior}'\n", 1))
    _at_line(err)
    assert "nested deeper than" in str(err)


def _count_and_real_fields() -> list[tuple[tuple[str, ...], str]]:
    """(--set path, kind) for every Count and Real setting of inference and evaluate."""
    out = []
    for prefix, model in (("inference", models.Inference), ("evaluate", models.Evaluate)):
        for name, field in model.model_fields.items():
            ann = field.annotation
            args = typing.get_args(ann) or (ann,)
            if any(typing.get_origin(a) is None and a is int for a in args):
                out.append(((prefix, name), "count"))
            elif any(a is float for a in args):
                out.append(((prefix, name), "real"))
    return out


FIELDS = _count_and_real_fields()


def test_every_numeric_setting_is_covered() -> None:
    names = {p[-1] for p, _ in FIELDS}
    assert {"steps", "seed", "draws", "lr", "target_accept", "interval"} <= names


@pytest.mark.parametrize("path,kind", FIELDS, ids=[".".join(p) for p, _ in FIELDS])
@pytest.mark.parametrize("spec", ALL_SPECS[:3], ids=IDS[:3])
def test_booleans_and_non_finite_numbers_are_refused(spec: Path, path, kind) -> None:
    bad = ["true", "2.5"] if kind == "count" else ["true", ".inf", ".nan", "-.inf"]
    for value in bad:
        err = _refused(spec.read_text(), [f"{'.'.join(path)}={value}"])
        assert err.problems[0].file.startswith("--set "), str(err)
        assert err.problems[0].path == ".".join(path)


@pytest.mark.parametrize("value", ["-1", str(models.MAX_SEED + 1)])
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_seed_outside_32_bits_is_refused(spec: Path, value: str) -> None:
    """Every backend seeds with an unsigned 32-bit number: -1 crashed after compiling, 2**32
    seeded JAX as 0.  Refused before any work, data seeds too, and so are restarts or chains
    that would count past the largest seed."""
    loaded = parse_spec_text(spec.read_text())
    paths = ["inference.seed"]
    if isinstance(loaded.spec.data, models.SimulateData):
        paths.append("data.seed")
    if hasattr(loaded.spec.data.split, "seed"):
        paths.append("data.split.seed")
    for path in paths:
        err = _refused(spec.read_text(), [f"{path}={value}"])
        assert err.problems[0].file.startswith("--set ") and err.problems[0].path == path
    largest = [f"inference.seed={models.MAX_SEED}", "inference.restarts=1", "inference.chains=1"]
    parse_spec_text(spec.read_text(), overrides=largest)  # the largest seed itself is fine
    sets = [*largest, "inference.method=nuts", "inference.chains=2"]
    assert "more than 4294967295" in str(_refused(spec.read_text(), sets))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_fixed_dim_too_big_to_allocate_is_named(spec: Path) -> None:
    loaded = parse_spec_text(spec.read_text())
    fixed = [n for n, d in loaded.spec.dims.items() if isinstance(d, int)]
    if not fixed:
        pytest.skip("no fixed-size dim")
    err = _refused(spec.read_text(), [f"dims.{fixed[0]}={10**12}"])
    assert f"dim {fixed[0]!r}" in str(err) and "memory" in str(err)


SIZED = {  # settings that size an array, with what makes them apply
    "inference.draws": ["inference.method=vi"],
    "inference.chains": ["inference.method=nuts", "inference.restarts=1", "inference.seed=0"],
    "inference.batch_size": ["inference.method=vi"],
    "inference.steps": ["inference.method=map"],
    "evaluate.ranking.k": [],
}
#: chains also seed chain c with seed + c: within 32 bits, past any memory with 500 draws;
#: draws and steps are iteration counts, at most MAX_ITERATIONS (17 GB of float64)
SIZE = {
    "inference.chains": 2**31,
    "inference.draws": models.MAX_ITERATIONS,
    "inference.steps": models.MAX_ITERATIONS,
}


@pytest.mark.parametrize("path", sorted(SIZED))
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_setting_too_big_to_allocate_is_named(spec: Path, path: str, monkeypatch) -> None:
    """draws: 10**12 (or chains, a minibatch, a ranked list, an optimiser's loss trace) ended in
    a MemoryError at exit 1.  The machine is taken to have 8 GiB, so the sizes within the
    settings' own ranges are past it."""
    monkeypatch.setattr("specrec.spec.load._memory_bytes", lambda: 2**33)
    err = _refused(spec.read_text(), [*SIZED[path], f"{path}={SIZE.get(path, 10**12)}"])
    assert err.problems[0].path == path and "memory" in str(err), str(err)


ITERATIONS = ["inference.steps", "inference.warmup", "inference.draws", "inference.thin"]


@pytest.mark.parametrize("path", ITERATIONS)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_an_iteration_count_past_32_bits_is_refused(spec: Path, path: str) -> None:
    """JAX counts iterations in 32-bit integers: steps (or warmup, draws, thin) of 10**20
    validated, then ended in an OverflowError after compiling, at exit 1."""
    err = _refused(spec.read_text(), [f"{path}={models.MAX_ITERATIONS + 1}"])
    assert err.problems[0].path == path and "less than or equal to 2147483647" in str(err)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_nuts_tree_or_a_chain_past_32_bits_is_refused(spec: Path) -> None:
    depth = models.MAX_TREE_DEPTH
    parse_spec_text(spec.read_text(), overrides=[f"inference.max_tree_depth={depth}"])
    err = _refused(spec.read_text(), [f"inference.max_tree_depth={depth + 1}"])
    assert err.problems[0].path == "inference.max_tree_depth"
    gibbs = ["inference.method=gibbs", "inference.warmup=0", "inference.draws=2000"]
    err = _refused(spec.read_text(), [*gibbs, "inference.thin=2000000"])
    assert "warmup + draws x thin is 4,000,000,000 iterations" in str(err)


SIMULATED = [
    p
    for p in ALL_SPECS
    if isinstance(parse_spec_text(p.read_text()).spec.data, models.SimulateData)
]


@pytest.mark.parametrize("spec", SIMULATED, ids=[str(p.relative_to(SPECS)) for p in SIMULATED])
def test_simulated_rows_too_many_to_allocate_are_named(spec: Path) -> None:
    """rows: 10**12, or a density of a huge grid, validated and ended in a MemoryError when the
    data was drawn (exit 1); so did the weight of every cell that activity draws."""
    text = spec.read_text()
    data = parse_spec_text(text).spec.data
    err = _refused(text, ["data.density=null", f"data.rows={10**12}"])
    assert err.problems[0].path == "data.rows" and "simulating 1,000,000,000,000 rows" in str(err)
    if len(data.sizes) < 2:
        return  # one data dim: its cells are its levels, which the dim sizes' check bounds
    huge = [f"data.sizes.{d}={10**6}" for d in data.sizes]
    err = _refused(text, ["data.rows=null", "data.density=1", *huge])
    assert err.problems[0].path == "data.density" and "memory" in str(err), str(err)
    dim = next(iter(data.sizes))
    sets = ["data.rows=null", "data.density=1e-9", f"data.activity.{dim}=1", *huge]
    err = _refused(text, sets)
    assert "a weight for each of" in str(err) and "memory" in str(err), str(err)


def test_posterior_draws_too_big_for_the_model_are_refused_before_the_fit() -> None:
    """Fewer draws than the spec alone refuses, but too many for the model's parameter count."""
    from specrec.fitting import check_posterior_size
    from specrec.prior import n_param_values
    from specrec.spec.load import _memory_bytes
    from specrec.testing.cases import prepare_example

    p = prepare_example("quickstart")
    values = n_param_values(p.model)
    draws = 2 * _memory_bytes() // (8 * values)
    loaded = parse_spec_text(p.loaded.text, "hostile.yaml", ["inference.method=vi"])
    check_posterior_size(loaded, p.model)  # the spec's own draws fit
    loaded = parse_spec_text(p.loaded.text, "hostile.yaml", [f"inference.draws={draws}"])
    with pytest.raises(SpecError, match=f"of {values:,} parameter values") as info:
        check_posterior_size(loaded, p.model)
    assert info.value.problems[0].path == "inference.draws"


@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_a_dim_given_as_a_boolean_is_refused(spec: Path) -> None:
    loaded = parse_spec_text(spec.read_text())
    fixed = [n for n, d in loaded.spec.dims.items() if isinstance(d, int)]
    if not fixed:
        pytest.skip("no fixed-size dim")
    err = _refused(spec.read_text().replace(f"  {fixed[0]}: ", f"  {fixed[0]}: true #", 1))
    _at_line(err)


BAD_SETS = {
    "unclosed flow": "inference.x=[1, 2",
    "unclosed quote": "inference.x='abc",
    "python tag": "inference.x=!!python/object:os.system {}",
    "bad mapping": "inference.x=[1, 2: ...",
    "alias": "inference.x=*a",
    "deep": "inference.x=" + "[" * 200 + "]" * 200,
    "control character": "inference.x=a\x01b",
}


@pytest.mark.parametrize("kind", sorted(BAD_SETS))
def test_bad_set_values_are_blamed_on_the_option(kind: str) -> None:
    text = (SPECS / "quickstart.yaml").read_text()
    err = _refused(text, [BAD_SETS[kind]])
    assert [p.file for p in err.problems] == [f"--set {BAD_SETS[kind]}"]
    assert err.problems[0].line is None  # never a spec line


def test_unknown_backend_in_a_spec_or_set_suggests_the_installed_one() -> None:
    text = (SPECS / "quickstart.yaml").read_text()
    err = _refused(text + "backend: numpyr\n")
    assert "unknown backend" in str(err) and "did you mean 'numpyro'" in str(err)
    _at_line(err)
    err = _refused(text, ["backend=pymcc"])
    assert err.problems[0].file == "--set backend=pymcc" and "'pymc'" in str(err)


@pytest.mark.parametrize("kind", ["flow nesting", "alias bomb", "python tag"])
def test_validate_exits_2_without_a_traceback(tmp_path: Path, kind: str) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text((SPECS / "quickstart.yaml").read_text() + HOSTILE_TEXT[kind])
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "Traceback" not in result.output and MESSAGES[kind] in result.stderr


def test_validate_bad_set_exits_2() -> None:
    result = CliRunner().invoke(
        main, ["validate", str(SPECS / "quickstart.yaml"), "--set", "inference.x=[1, 2"]
    )
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stderr.startswith("--set inference.x=[1, 2:")
