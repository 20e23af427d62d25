"""The spec-keys reference: every key of every pydantic model, with type, default and meaning.

The models are walked from ``Spec`` in the order their fields appear, so a new key or a new
kind of data source or split appears here as soon as it exists in ``specrec.spec.models``.
"""

from __future__ import annotations

import inspect
import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from specrec import methods
from specrec.docgen.markdown import code, page, table
from specrec.spec.models import Spec, known_method

_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", ">="), (at.Lt, "lt", "<"), (at.Le, "le", "<="))


def _constraints(metadata: list[Any]) -> str:
    parts = []
    for m in metadata:
        if isinstance(m, FieldInfo):  # Annotated[int, Field(ge=1)] nested in another type
            parts.append(_constraints(list(m.metadata)))
            continue
        for cls, attr, sym in _BOUNDS:
            if isinstance(m, cls):
                parts.append(f"{sym} {getattr(m, attr)}")
        pattern = getattr(m, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matching {code(pattern)}")
    return ", ".join(parts)


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def type_text(tp: Any, found: list[type[BaseModel]]) -> str:
    """A reader's name for a type annotation; models met on the way are appended to ``found``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated and any(
        getattr(m, "func", None) is known_method for m in args[1:]
    ):  # an inference method: the methods table's names, not "string"
        return " or ".join(code(f'"{n}"') for n in methods.names())
    if origin is Annotated:
        extra = _constraints(list(args[1:]))
        inner = type_text(args[0], found)
        return f"{inner} ({extra})" if extra else inner
    if origin is Literal:
        return " or ".join(code(repr(a).replace("'", '"')) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_text(a, found) for a in args)
    if origin is dict:
        return f"mapping of {type_text(args[0], found)} to {type_text(args[1], found)}"
    if origin is list:
        return f"list of {type_text(args[0], found)}"
    if origin is tuple:
        return "[" + ", ".join(type_text(a, found) for a in args) + "]"
    if tp is type(None):
        return "null"
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        if tp not in found:
            found.append(tp)
        return f"[{tp.__name__}](#{anchor(tp)})"
    if origin is not None:  # another generic: list its arguments rather than guess a name
        return (
            f"{getattr(origin, '__name__', origin)}[{', '.join(type_text(a, found) for a in args)}]"
        )
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def default_text(f: FieldInfo) -> str:
    """The default as it would be written in YAML (JSON is a subset): ``true``, ``null``."""
    if f.default_factory is not None:
        value = f.default_factory()
        if isinstance(value, BaseModel):
            return f"all defaults of [{type(value).__name__}](#{anchor(type(value))})"
        return code(json.dumps(value))
    if f.is_required() or f.default is PydanticUndefined:
        return "required"
    return code(json.dumps(f.default))


def missing_descriptions() -> list[str]:
    """``Model.field`` for every field without a description (a test keeps this empty)."""
    out, seen = [], _models()
    for model in seen:
        out += [f"{model.__name__}.{k}" for k, f in model.model_fields.items() if not f.description]
    return out


def _models() -> list[type[BaseModel]]:
    """Every model reachable from ``Spec``, in breadth-first field order."""
    found: list[type[BaseModel]] = [Spec]
    i = 0
    while i < len(found):
        for f in found[i].model_fields.values():
            type_text(_annotation(f), found)
        i += 1
    return found


def _annotation(f: FieldInfo) -> Any:
    """The field's type with its own constraints (pydantic moves them into ``metadata``)."""
    return Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation


def _section(model: type[BaseModel]) -> str:
    doc = inspect.cleandoc(model.__doc__ or "")
    rows = []
    for key, f in model.model_fields.items():
        rows.append(
            [code(key), type_text(_annotation(f), []), default_text(f), f.description or ""]
        )
    return f"## {model.__name__} {{#{anchor(model)}}}\n\n{doc}\n\n" + table(
        ["key", "type", "default", "description"], rows
    )


def spec_keys_page() -> str:
    return page(
        "Spec keys",
        "the pydantic models in specrec/spec/models.py",
        """
A spec file is a YAML mapping whose keys are those of [Spec](#spec) below. Every mapping
refuses unknown keys (a misspelt key is an error with a suggestion, never ignored). Where a
key accepts one of several models (`data`, `data.split`), the model is chosen by its `source`
or `kind` key. Types: *mapping of A to B* is a YAML mapping; *[number, number]* a list of
two numbers; constraints such as `>= 1` are checked with the file's line and column.
Any key can also be set on the command line with `--set key.path=value`.

For editor completion, `specrec schema` prints the same structure as JSON Schema.
""",
        *(_section(m) for m in _models()),
    )
