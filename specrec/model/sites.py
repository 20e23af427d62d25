"""The sample sites of a NumPyro or Pyro model, written once for both.

NumPyro and Pyro have the same API shape: ``sample(name, d, obs=)``, ``factor``, ``plate``,
a ``scale`` handler, ``ImproperUniform(support, batch_shape, event_shape)`` and
``d.expand(shape).to_event(n)``.  So how a latent, a narrowed (``constraint:``) prior, the
likelihood of full or minibatched rows, and a mixture likelihood become sites is decided here,
once; each backend passes its own primitives and distribution table (``Primitives``) to
``walk_model``'s callbacks.  This module imports no PPL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from specrec.model.ir import Model, RandomVariable


@dataclass(frozen=True)
class Primitives:
    """One PPL's primitives, as its backend hands them over.

    ``scale`` is called as ``scale(scale=factor)``; ``shape`` turns a tuple into the PPL's
    shape type (``torch.Size`` for Pyro, whose ``ImproperUniform`` wants one).
    """

    sample: Callable[..., Any]
    factor: Callable[[str, Any], Any]
    plate: Callable[[str, int], AbstractContextManager[Any]]
    scale: Callable[..., AbstractContextManager[Any]]
    improper: Callable[[Any, Any, Any], Any]
    shape: Callable[[tuple[int, ...]], Any]
    distributions: Mapping[str, Callable[..., Any]]
    constraints: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        ppl: Any,
        dist: Any,
        scale: Callable[..., AbstractContextManager[Any]],
        shape: Callable[[tuple[int, ...]], Any],
        distributions: Mapping[str, Callable[..., Any]],
        constraints: Mapping[str, Any],
    ) -> Primitives:
        """From the PPL's module (``numpyro``, ``pyro``: its ``sample``, ``factor``, ``plate``)
        and its ``distributions`` module (``ImproperUniform``)."""
        return cls(
            ppl.sample, ppl.factor, ppl.plate, scale, dist.ImproperUniform, shape,
            distributions, constraints,
        )  # fmt: skip


def latent(p: Primitives, rv: RandomVariable, args: dict[str, Any]) -> Any:
    """A latent's site: its prior over its plates, or, with a ``constraint``, an improper site
    whose support picks the core's transform plus the prior's density as a factor."""
    plates = rv.shape[: len(rv.shape) - rv.event_dims]
    event = rv.shape[len(plates) :]
    if rv.constraint:
        support = p.improper(p.constraints[rv.constraint], p.shape(plates), p.shape(event))
        x = p.sample(rv.name, support)
        prior = p.distributions[rv.distribution](**args)
        p.factor(f"{rv.name}__prior", prior.log_prob(x).sum())
        return x
    extra = {"event_shape": event} if rv.dist.event_dims else {}
    d = p.distributions[rv.distribution](**args, **extra)
    if plates:
        d = d.expand(p.shape(plates)).to_event(len(plates))
    return p.sample(rv.name, d)


def likelihood(
    p: Primitives, model: Model, rv: RandomVariable, args: dict[str, Any], y_obs: Any
) -> Any:
    """The likelihood's site over the rows; a minibatch's log likelihood is scaled by
    ``model.likelihood_scale`` (the full-batch site has no scale handler at all)."""
    d = p.distributions[rv.distribution](**args)
    with p.plate("obs", y_obs.shape[0]):
        if model.batch_size is None:
            return p.sample(rv.name, d, obs=y_obs)
        with p.scale(scale=model.likelihood_scale):
            return p.sample(rv.name, d, obs=y_obs)


class Mixture:
    """A mixture likelihood: per-component log densities, summed out by the core, as a factor
    (``walk_model``'s ``MixtureObserver``)."""

    def __init__(self, p: Primitives, y_obs: Any):
        self.p, self.y_obs = p, y_obs

    def log_prob(self, rv: RandomVariable, args: dict[str, Any]) -> Any:
        return self.p.distributions[rv.distribution](**args).log_prob(self.y_obs[:, None])

    def factor(self, name: str, log_density: Any) -> None:
        self.p.factor(name, log_density)
