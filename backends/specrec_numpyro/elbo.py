"""NumPyro's ``Trace_ELBO`` for one particle, with its sites combined in trace order.

``Trace_ELBO`` subtracts the guide's log density from the model's site by site while it
iterates a Python ``set`` of site names, whose order follows the strings' hashes and so changes
from one process to the next (``PYTHONHASHSEED``).  The compiled SVI program then differs by the
order of a few subtractions in every process, and JAX's persistent compilation cache, which keys
entries by the program's text, never finds the largest program of a map or vi fit again (seen:
206 of 207 programs of the quickstart from the cache, the missing one the 1 s SVI chunk).

Here the same quantity, ``log q(z) - log p(x, z)`` at one draw of the guide, is summed in the
order the sites were traced, which is the same in every process.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import random
from numpyro.handlers import replay, seed
from numpyro.infer import Trace_ELBO
from numpyro.infer.util import compute_log_probs


class OrderedTraceELBO(Trace_ELBO):
    """``Trace_ELBO(num_particles=1)`` whose program is the same in every process."""

    def __init__(self) -> None:
        super().__init__(num_particles=1)

    def loss_with_mutable_state(
        self, rng_key: Any, param_map: dict[str, Any], model: Any, guide: Any, *args, **kwargs
    ) -> dict[str, Any]:
        model_seed, guide_seed = random.split(rng_key)  # the keys Trace_ELBO gives each
        guide_lp, guide_trace = compute_log_probs(seed(guide, guide_seed), args, kwargs, param_map)
        replayed = replay(seed(model, model_seed), guide_trace)
        model_lp, _ = compute_log_probs(replayed, args, kwargs, param_map)
        names = list(model_lp) + [n for n in guide_lp if n not in model_lp]
        elbo = jnp.array(0.0)
        for name in names:
            elbo = elbo + (model_lp.get(name, 0.0) - guide_lp.get(name, 0.0))
        return {"loss": -elbo, "mutable_state": None}
