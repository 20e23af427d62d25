"""Pyro NUTS chains run in parallel processes, with the same draws as one at a time (real Pyro).

The number of cores a fit may use is read from ``OMP_NUM_THREADS`` (as a study worker sets it),
so one process runs both counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from spec_texts import priors_spec

from specrec import backends, driver
from specrec.data.simulate import simulate
from specrec.model import reference as R
from specrec.model.lower import lower

pytestmark = pytest.mark.backend("pyro")


def test_parallel_chains_draw_exactly_what_sequential_chains_draw(monkeypatch, capsys):
    # three chains on two processes: chains 0 and 2 share one, chain 1 runs beside them
    loaded = priors_spec(
        overrides=[
            "inference.method=nuts",
            "inference.chains=3",
            "inference.warmup=30",
            "inference.draws=10",
            "inference.max_tree_depth=4",
        ]
    )
    model = lower(loaded, simulate(loaded))
    s = loaded.spec.inference
    init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
    fits = {}
    for cores in (1, 2):
        monkeypatch.setenv("OMP_NUM_THREADS", str(cores))
        fits[cores] = driver.run_kernel(backends.get("pyro"), model, s, init, progress=True)
    one, two = fits[1], fits[2]
    assert one.info["chain_method"] == "sequential" and one.info["processes"] == 1
    # counted from the distinct worker processes that sent chains back
    assert two.info["chain_method"] == "parallel" and two.info["processes"] == 2
    assert sorted(one.posterior) == sorted(two.posterior)
    assert sorted(one.sample_stats) == sorted(two.sample_stats)
    for name, v in one.posterior.items():
        assert v.shape[:2] == (3, 10), name
        np.testing.assert_array_equal(v, two.posterior[name], err_msg=name)
    for name, v in one.sample_stats.items():
        np.testing.assert_array_equal(v, two.sample_stats[name], err_msg=name)
    assert not np.array_equal(one.posterior["m"][0], one.posterior["m"][1])  # not one chain
    err = capsys.readouterr().err
    assert "nuts: 3 chains in 2 processes" in err
    for c in (1, 2, 3):  # a bar per chain, into sampling
        assert f"Sample [{c}]" in err


def test_an_error_in_a_worker_is_raised_here_with_its_traceback(monkeypatch):
    """A chain that fails in its worker process fails the fit as it would in this one."""
    loaded = priors_spec(
        overrides=["inference.method=nuts", "inference.chains=2", "inference.warmup=5"]
    )
    model = lower(loaded, simulate(loaded))
    # unvalidated: NUTS's step-size adaptation fails on it at the first warm-up step, which
    # only the workers run
    s = loaded.spec.inference.model_copy(update={"target_accept": "0.8"})
    init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with pytest.raises(TypeError) as info:
        backends.get("pyro").fit(model, s, init, progress=False)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "worker process" in notes and "_update_step_size" in notes
