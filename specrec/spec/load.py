"""YAML file -> validated ``Spec``, or a ``SpecError`` listing every problem with its position.

Structure is checked by pydantic here; names, dims and shapes are checked when the spec is
lowered (``specrec.model.lower``), which reports through the same ``PositionMap`` so that every
error of a file reads the same way.  Pydantic's error locations carry union tags
(``Param``, ``simulate``...); they are dropped by following the actual data, rendercv-style.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path as FsPath

import yaml
from pydantic import BaseModel, ValidationError

from specrec import methods
from specrec.errors import Problem, SpecError, shown
from specrec.registry import install_hint
from specrec.spec import models
from specrec.spec.key_places import key_places, wrong_level_hint
from specrec.spec.positions import Path, Position, PositionMap, RefusedYAML, load_yaml


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with what is needed to report on it: its text, file and positions."""

    spec: models.Spec
    raw: dict
    positions: PositionMap
    text: str
    file: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def parse_override(item: str) -> tuple[list[str], object]:
    """``inference.steps=200`` -> (["inference", "steps"], 200); values are YAML, read as a
    spec is."""
    where = f"--set {item}"
    if "=" not in item:
        raise SpecError(
            [Problem("--set", None, None, "", f"expected KEY=VALUE, found {shown(item)}")]
        )
    key, value = item.split("=", 1)
    path = [k for k in key.strip().split(".") if k]
    if not path:
        raise SpecError([Problem("--set", None, None, "", f"empty key in {item!r}")])
    if not value.strip():
        return path, ""
    try:
        parsed, _, problems = load_yaml(value, where)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at character {mark.column + 1} of the value" if mark and mark.line == 0 else ""
        what_is = "refused" if isinstance(exc, RefusedYAML) else "not valid YAML"
        problem = Problem(
            where, None, None, ".".join(path), f"{what_is}: {exc.problem}{at}", hint=_yaml_hint(exc)
        )
        raise SpecError([problem]) from None
    except yaml.reader.ReaderError as exc:
        at = f" at character {exc.position + 1} of the value"
        message = _refused_character(exc) + at
        raise SpecError([Problem(where, None, None, ".".join(path), message)]) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            [Problem(where, None, None, ".".join(path), f"not valid YAML: {exc}")]
        ) from None
    if problems:
        raise SpecError([Problem(where, None, None, p.path, p.message) for p in problems])
    return path, parsed


def apply_overrides(raw: dict, overrides: list[str], positions: PositionMap) -> None:
    for item in overrides:
        path, value = parse_override(item)
        origin = Position(0, 0, origin=f"--set {item}")
        node = raw
        for depth, k in enumerate(path):
            if k not in node:
                # a key the file does not have (a typo like `infrence`) is blamed on --set too,
                # not on the nearest mapping of the file
                positions.keys.setdefault(tuple(path[: depth + 1]), origin)
            if depth == len(path) - 1:
                break
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[path[-1]] = value
        # An overridden value is reported where it came from: the command line.
        positions.values[tuple(path)] = origin


def _clean_loc(raw: object, loc: tuple) -> tuple[Path, bool]:
    """Drop union tags from a pydantic location by following the data; True if the end exists."""
    path: list[str | int] = []
    node = raw
    exists = True
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part in (node.get("source"), node.get("kind")):
            continue  # a discriminated union's tag
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and "[" not in part
        ):
            # a key that is not there (missing or extra); tags are class names or 'function-...'
            if part in ("str", "int", "float", "bool", "list", "dict") or "-" in part:
                continue
            path.append(part)
            exists = False
            node = None
        else:
            continue
    return tuple(path), exists


def _value_at(raw: object, path: Path) -> object:
    node = raw
    for p in path:
        node = node[p]  # type: ignore[index]
    return node


def pydantic_problems(
    err: ValidationError,
    raw: dict,
    positions: PositionMap,
    root: type[BaseModel] = models.Spec,
) -> list[Problem]:
    """Pydantic errors -> positioned problems; ``root``: the file's schema, whose key names are
    offered as suggestions for an unknown key (and where the key goes if it exists elsewhere)."""
    by_path: dict[Path, list[dict]] = {}
    for e in err.errors():
        path, _ = _clean_loc(raw, e["loc"])
        by_path.setdefault(path, []).append(e)
    # A `*_type` error for a mapping, beside deeper errors from another union member, is noise.
    for path in list(by_path):
        deeper = any(len(q) > len(path) and q[: len(path)] == path for q in by_path)
        if deeper and all(e["type"].endswith("_type") for e in by_path[path]):
            del by_path[path]
    problems = []
    for path, errs in by_path.items():
        # A union reports one error per member; keep those that fit the kind of value written.
        try:
            value = _value_at(raw, path)
        except (KeyError, IndexError, TypeError):
            value = None
        if isinstance(value, dict) and len(errs) > 1:
            errs = [
                e for e in errs if not e["type"].endswith("_type") and e["type"] != "literal_error"
            ] or errs
        elif len(errs) > 1 and not isinstance(value, dict):
            structured = [
                e for e in errs if e["type"] in ("model_type", "model_attributes_type", "dict_type")
            ]
            scalar = [e for e in errs if e not in structured]
            # A member that took the value's type and refused the value itself (.inf for a
            # float) says more than the first member's "a valid string".
            specific = [e for e in scalar if not e["type"].endswith("_type")]
            if structured and scalar:
                errs = (specific or scalar)[:1]
        seen = set()
        for e in errs:
            p = _problem(e, path, raw, positions, root)
            if p.message not in seen:
                seen.add(p.message)
                problems.append(p)
    return problems


def _problem(
    e: dict, path: Path, raw: dict, positions: PositionMap, root: type[BaseModel]
) -> Problem:
    kind = e["type"]
    found = e.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        parent = ".".join(str(p) for p in path[:-1])
        hint = wrong_level_hint(key, parent, root)
        if hint is None:
            names = sorted(key_places(root))
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else None
        return positions.problem(path, f"unknown key {key!r}", key=True, hint=hint)
    if kind == "missing":
        key = str(path[-1]) if path else "?"
        return positions.problem(path[:-1], f"missing required key {key!r}", key=True)
    if kind in ("literal_error", "union_tag_invalid"):
        expected = e.get("ctx", {}).get("expected") or e.get("ctx", {}).get("expected_tags", "")
        options = [
            s.strip(" '\"") for s in str(expected).replace(" or ", ",").split(",") if s.strip()
        ]
        tag = e.get("ctx", {}).get("tag", found)
        if kind == "union_tag_invalid":
            disc = e.get("ctx", {}).get("discriminator", "").strip("'")
            path = (*path, disc) if disc and (not path or path[-1] != disc) else path
        close = difflib.get_close_matches(str(tag), options, n=1, cutoff=0.5)
        return positions.problem(
            path,
            "not one of the allowed values",
            expected=", ".join(options),
            found=shown(tag),
            hint=f"did you mean {close[0]!r}?" if close else None,
        )
    if kind == "union_tag_not_found":
        disc = e.get("ctx", {}).get("discriminator", "").strip("'")
        return positions.problem(path, f"missing required key {disc!r}", key=True)
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    expected = None
    if kind.endswith("_type") or kind.endswith("_parsing"):
        # "a valid integer, unable to parse string as an integer" -> "a valid integer"
        expected, msg = msg.replace("Input should be ", "").split(", unable to")[0], "wrong type"
    elif kind == "finite_number":
        expected, msg = "a finite number", "not a finite number"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        expected, msg = msg.replace("Input should be ", ""), "value out of range"
    elif kind == "string_pattern_mismatch":
        expected, msg = (
            "letters, digits, '_', '-' or '.', starting with a letter or digit",
            "bad name",
        )
    # A validator's own message already says what it found.
    show_found = not isinstance(found, dict) and kind != "value_error"
    return positions.problem(
        path, msg, expected=expected, found=shown(found) if show_found else None
    )


def read_text(path: str | FsPath) -> str:
    """A YAML file's text, or a ``SpecError`` saying why it cannot be read."""
    file = str(path)
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(file, None, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read the file: {exc}")]) from None


def load_spec(path: str | FsPath, overrides: list[str] | None = None) -> LoadedSpec:
    """Read, parse and structurally validate a spec file; raise ``SpecError`` with every problem."""
    return parse_spec_text(read_text(path), str(path), overrides)


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str | None:
    """Where the construct the YAML parser was reading began (an unclosed ``[`` or quote)."""
    if isinstance(exc, RefusedYAML):
        return exc.hint
    if "'\\t'" in str(exc.problem):
        return "YAML indents with spaces, not tabs"
    ctx, mark, at = exc.context, exc.context_mark, exc.problem_mark
    if ctx and mark and (at is None or (mark.line, mark.column) != (at.line, at.column)):
        return f"{ctx} that starts at line {mark.line + 1}, column {mark.column + 1}"
    return None


def _refused_character(exc: yaml.reader.ReaderError) -> str:
    """PyYAML's reader refuses a NUL or another control character before parsing starts."""
    c = exc.character
    found = f"U+{c:04X}" if isinstance(c, int) else repr(c)
    return f"not valid YAML: the control character {found} is not allowed in YAML text"


def _line_col(text: str, position: int) -> tuple[int, int]:
    """The 1-based line and column of a character index into ``text``."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def parse_mapping(text: str, file: str, what: str = "a spec") -> tuple[dict, PositionMap]:
    """YAML text -> (mapping, positions), or a ``SpecError`` with the YAML problem's place.

    Shared by specs and study files so that both report broken YAML the same way.
    """
    try:
        raw, positions, problems = load_yaml(text, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what_is = "refused" if isinstance(exc, RefusedYAML) else "not valid YAML"
        raise SpecError(
            [Problem(file, line, col, "", f"{what_is}: {exc.problem}", hint=_yaml_hint(exc))]
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (a NUL, a control code)
        line, col = _line_col(text, exc.position)
        raise SpecError([Problem(file, line, col, "", _refused_character(exc))]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(file, None, None, "", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        found = (
            "an empty file"
            if raw is None
            else "a list"
            if isinstance(raw, list)
            else f"a single value {raw!r}"
        )
        raise SpecError(
            [
                positions.problem(
                    (), f"{what} is a mapping of keys", expected="a mapping", found=found
                )
            ]
        )
    if problems:
        raise SpecError(problems)
    return raw, positions


def installed_backends() -> list[str]:
    """The registered backend names, read from the entry points without importing any plugin."""
    return sorted(ep.name for ep in entry_points(group="specrec.backends"))


def backend_problem(positions: PositionMap, path: Path, name: object) -> Problem | None:
    """A positioned problem if ``name`` is not a registered backend (with a did-you-mean)."""
    installed = installed_backends()
    if name in installed:
        return None
    close = difflib.get_close_matches(str(name), installed, n=1, cutoff=0.5)
    return positions.problem(
        path,
        "unknown backend",
        expected=", ".join(installed) or f"an installed backend ({install_hint('numpyro')})",
        found=shown(name),
        hint=f"did you mean {close[0]!r}?" if close else None,
    )


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a large machine
        return 2**40


def size_problems(spec: models.Spec, positions: PositionMap) -> list[Problem]:
    """Dims whose arrays (a parameter over them, in float64) could not fit in memory.

    Said before anything is allocated: a size of 10**12 otherwise ends in a ``MemoryError``.
    """
    limit = _memory_bytes()
    where: dict[str, Path] = {n: ("dims", n) for n, d in spec.dims.items() if isinstance(d, int)}
    sizes = {n: d for n, d in spec.dims.items() if isinstance(d, int)}
    if isinstance(spec.data, models.SimulateData):
        for n, size in spec.data.sizes.items():
            sizes[n], where[n] = size, ("data", "sizes", n)
    problems, seen = simulated_rows_problems(spec, positions, limit), set()
    arrays = [(n, [n]) for n in sizes] + [(p, spec.param(p).dims) for p in spec.params]
    for array, dims in arrays:
        known = [d for d in dims if d in sizes]
        cells = math.prod(sizes[d] for d in known)
        if not known or cells * 8 <= limit:
            continue
        big = max(known, key=lambda d: sizes[d])
        if big in seen:
            continue
        seen.add(big)
        problems.append(
            positions.problem(
                where[big],
                f"dim {big!r} of size {sizes[big]:,} makes {array!r} "
                f"{cells * 8 / 2**30:,.0f} GiB, more than this machine's memory",
                expected=f"arrays within {limit / 2**30:,.0f} GiB",
                found=f"{sizes[big]:,} levels",
            )
        )
    return problems


def simulated_rows_problems(
    spec: models.Spec, positions: PositionMap, limit: int | None = None
) -> list[Problem]:
    """Simulated data whose rows could not fit in memory: ``rows``, or ``density`` x the
    cells of the data dims, each row a code per data dim and a rating (8 bytes each); with
    ``activity``, a weight for every cell as well.

    ``rows: 10**12`` otherwise validated and ended in a ``MemoryError`` when drawn.
    """
    cfg = spec.data
    if not isinstance(cfg, models.SimulateData):
        return []
    limit = _memory_bytes() if limit is None else limit
    data_dims = [n for n, d in spec.dims.items() if isinstance(d, models.DataDim)]
    cells = math.prod(cfg.sizes.get(n, 1) for n in data_dims)
    per_row = 8 * (len(data_dims) + 1)
    if cfg.rows is not None:
        arrays = [(("data", "rows"), cfg.rows * per_row, f"{cfg.rows:,} rows")]
    else:
        rows = max(1, round((cfg.density or 0) * cells))
        arrays = [(("data", "density"), rows * per_row, f"{rows:,} rows ({cells:,} cells)")]
        if any(v > 0 for v in cfg.activity.values()):
            arrays.append(
                (("data", "activity"), 8 * cells, f"a weight for each of {cells:,} cells")
            )
    return [
        positions.problem(
            path,
            f"simulating {what} would take {size / 2**30:,.0f} GiB, more than this machine's "
            "memory",
            expected=f"arrays within {limit / 2**30:,.0f} GiB",
            found=what,
        )
        for path, size, what in arrays
        if size > limit
    ]


def setting_size_problems(
    spec: models.Spec, positions: PositionMap, values_per_draw: int = 1
) -> list[Problem]:
    """Settings whose arrays (float64) could not fit in memory: the posterior's draws (chains x
    draws of the method, ``values_per_draw`` values each: 1 before the model is known, its
    parameter count after lowering), a minibatch's rows, a ranked list's places.

    Said before anything is allocated: ``draws: 10**12`` otherwise ends in a ``MemoryError``.
    """
    limit = _memory_bytes()
    inf = spec.inference
    method = methods.get(inf.method)
    chains, draws = method.shape(inf)
    blame = ("inference", "chains") if chains > draws else ("inference", "draws")
    of = f" of {values_per_draw:,} parameter values" if values_per_draw > 1 else ""
    sizes: list[tuple[Path, int, str]] = [
        (blame, chains * draws * values_per_draw, f"{chains:,} x {draws:,} posterior draws{of}"),
        (("evaluate", "ranking", "k"), spec.evaluate.ranking.k, "ranked lists of this length"),
    ]
    if inf.batch_size is not None:
        sizes.append((("inference", "batch_size"), inf.batch_size, "minibatches of this size"))
    if method.loss_trace and method.applies("steps"):
        traces = inf.steps * inf.restarts
        sizes.append((("inference", "steps"), traces, "loss traces of this many steps"))
    return [
        positions.problem(
            path,
            f"{what} would take {cells * 8 / 2**30:,.0f} GiB, more than this machine's memory",
            expected=f"arrays within {limit / 2**30:,.0f} GiB",
            found=f"{cells:,} values",
        )
        for path, cells, what in sizes
        if cells * 8 > limit
    ]


def parse_spec_text(
    text: str, file: str = "<spec>", overrides: list[str] | None = None
) -> LoadedSpec:
    raw, positions = parse_mapping(text, file)
    apply_overrides(raw, overrides or [], positions)
    try:
        spec = models.Spec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(pydantic_problems(err, raw, positions)) from None
    problems = size_problems(spec, positions) + setting_size_problems(spec, positions)
    if "backend" in raw and (problem := backend_problem(positions, ("backend",), spec.backend)):
        problems.append(problem)
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec, raw, positions, text, file)
