"""A structure found once per model: the refusal check, the start and the kernel all ask for it.

Keyed by the model's identity and dropped with the model (a weak reference), so a long study
holds no structure of a model it no longer fits. A refusal (``failure``) is remembered too and
raised again, so the reasons are worked out once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from specrec.model.ir import Model

T = TypeVar("T")


def once_per_model(
    failure: type[Exception],
) -> Callable[[Callable[[Model], T]], Callable[[Model], T]]:
    def decorate(find: Callable[[Model], T]) -> Callable[[Model], T]:
        found: dict[int, tuple[weakref.ref, object]] = {}

        @wraps(find)
        def cached(model: Model) -> T:
            hit = found.get(id(model))
            if hit is None or hit[0]() is not model:
                try:
                    value: object = find(model)
                except failure as e:
                    value = e
                key = id(model)
                found[key] = (weakref.ref(model, lambda _, k=key: found.pop(k, None)), value)
                hit = found[key]
            if isinstance(hit[1], failure):
                raise hit[1]
            return hit[1]  # type: ignore[return-value]

        return cached

    return decorate
