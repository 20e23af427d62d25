"""The conformance suite on a third-party backend: ``example_backend/`` (MAP only, numpy).

This is the "writing a backend" story end to end: a package that registers under the
``specrec.backends`` entry-point group and runs ``specrec.testing.conformance`` against
itself.  In its own repository the package would need only::

    from specrec.testing.conformance import *  # noqa: F403

and a ``conftest.py`` whose ``backend_name`` fixture returns ``"example"``; here the fixture
also registers the (uninstalled) package for the duration of this module.  Its vi and nuts
cases are expected failures (it offers only map); everything else must pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_entry_points import registered

from specrec import backends

# --8<-- [start:suite]
from specrec.testing.conformance import *  # noqa: F403

# --8<-- [end:suite]

#: Not a PPL itself, but ``backends.installed()`` (the protocol test) loads every plugin.
pytestmark = pytest.mark.backend("example")

EXAMPLE = Path(__file__).resolve().parent / "example_backend"


# --8<-- [start:fixture]
@pytest.fixture(scope="module")
def _example_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with registered(
        tmp_path_factory.mktemp("site"),
        "specrec-example",
        {"example": "specrec_example:ExampleBackend"},
        (EXAMPLE,),
    ):
        yield


@pytest.fixture
def backend_name(_example_installed: None) -> str:
    return "example"


# --8<-- [end:fixture]


def test_example_is_discovered_like_an_installed_plugin(backend_name: str) -> None:
    """Listed by ``specrec backends`` with its version and methods, next to the built-ins."""
    info = {i.name: i for i in backends.installed()}
    assert info["example"].error is None
    assert info["example"].methods == ("map",)
    assert info["example"].version == "0.1.0"


def test_a_mixture_spec_is_refused_with_the_reason(backend_name: str, tmp_path: Path) -> None:
    """The example predates mixture likelihoods and does not declare them: ``fit`` refuses the
    Netflix mixture spec before fitting, naming the feature, instead of crashing inside it."""
    from specrec.errors import BackendError
    from specrec.fitting import fit

    spec = Path(__file__).resolve().parents[2] / "specs" / "netflix_mixture.yaml"
    sets = ["inference.restarts=1", "inference.steps=5", "data.sizes.user=20"]
    with pytest.raises(BackendError, match="does not declare support for mixture likelihoods"):
        fit(spec, backend=backend_name, overrides=sets, out=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_minibatch_map_is_refused_once(backend_name: str) -> None:
    """The core refuses a batch_size for map, for every backend: the example adds no reason of
    its own for it, so the user reads one sentence, not two saying the same."""
    from specrec.testing.cases import prepare_example

    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": "map", "batch_size": 8})
    reasons = backends.refusal_reasons(backends.get(backend_name), p.model, settings)
    assert reasons == ["batch_size (minibatch) applies to method vi only, not map"]


def test_a_diverged_fit_is_reported_by_the_driver(
    backend_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss gone to NaN is the driver's error, in the words it uses for every backend: the
    example's trace ends at the optimiser's last value, and it checks nothing itself."""
    import numpy as np
    import specrec_example

    from specrec import driver
    from specrec.errors import FitError
    from specrec.testing.cases import prepare_example

    monkeypatch.setattr(specrec_example, "log_joint", lambda *a, **k: (np.nan, {}))
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": "map", "steps": 20})
    with pytest.raises(FitError, match=r"^map diverged: the loss became nan at step \d+ \(try"):
        driver.run_inference(backends.get(backend_name), p.model, settings)
