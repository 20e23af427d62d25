"""Where in a file each key belongs, read from the pydantic models of its schema.

An unknown key is often a real key written at the wrong level (``backends:`` at the top of a
study instead of inside a run, ``steps:`` beside ``inference:``).  A did-you-mean over every key
name would then suggest the key itself; this table lets the error say where the key goes.
"""

from __future__ import annotations

import types
import typing
from functools import cache

from pydantic import BaseModel

#: how deep the walk follows nested models (the schemas are a few levels deep; recursive
#: models would otherwise never end)
MAX_DEPTH = 8


def _models_in(annotation: object) -> list[tuple[type[BaseModel], str]]:
    """The models an annotation can hold, each with the path step into it ('' , '<name>', '[]')."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin in (list, tuple, set, frozenset):
        return [(m, "[]" + step) for a in args for m, step in _models_in(a)]
    if origin is dict and len(args) == 2:
        return [(m, ".<name>" + step) for m, step in _models_in(args[1])]
    return []


@cache
def key_places(root: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """key -> every place it is a key, as paths like ``runs[].backends`` or ``params.<name>.prior``."""
    places: dict[str, list[str]] = {}
    seen: set[tuple[type[BaseModel], str]] = set()

    def walk(model: type[BaseModel], prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH or (model, prefix) in seen:
            return
        seen.add((model, prefix))
        for name, field in model.model_fields.items():
            key = name if field.alias is None else field.alias
            here = f"{prefix}{key}"
            places.setdefault(key, [])
            if here not in places[key]:
                places[key].append(here)
            for inner, step in _models_in(field.annotation):
                walk(inner, f"{here}{step}.", depth + 1)

    walk(root, "", 0)
    return {k: tuple(v) for k, v in places.items()}


def wrong_level_hint(key: str, parent: str, root: type[BaseModel]) -> str | None:
    """'backends belongs at runs[].backends, not here' when ``key`` is a key elsewhere."""
    where = key_places(root).get(key)
    if not where:
        return None
    shown = " or ".join(where[:3]) + (" ..." if len(where) > 3 else "")
    here = f"under {parent}" if parent else "at the top level"
    return f"{key!r} is a key at {shown}, not {here}"
