"""Adding an inference method is one row of ``specrec.methods`` and one kernel.

A tiny method defined only here (plain gradient ascent, a backend-neutral kernel over the
backend's log density) must show up everywhere the method vocabulary is read: the spec schema
and its validation, the CLI's ``--method`` choices, the conformance suite's parametrisation and
the backends' offered methods; and the fit driver must run it on a real backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from specrec import backends, driver, methods
from specrec.backends import FitResult
from specrec.cli import main
from specrec.model.reference import constrain
from specrec.optimisers import as_point, flat_grads, flat_start
from specrec.spec.models import Inference, Spec
from specrec.testing import conformance
from specrec.testing.cases import prepare_example


def _ascent(density, model, settings, init, progress, label) -> FitResult:
    """Gradient ascent on the log density from the core's start: the smallest real kernel."""
    x = flat_start(model, init)
    losses = []
    for _ in range(settings.steps):
        logp, g = density(as_point(model, x))
        losses.append(-logp)
        x = [xi + settings.lr * gi for xi, gi in zip(x, flat_grads(model, g), strict=True)]
    point = constrain(model, as_point(model, x))
    posterior = {k: np.asarray(v)[None, None] for k, v in point.items()}
    return FitResult("ascent", posterior, loss=np.asarray(losses))


ASCENT = methods.Method(
    "ascent",
    "plain gradient ascent (a method defined only in a test)",
    produces="point",
    loss_trace=True,
    settings=frozenset({"steps", "lr"}),
    kernel=_ascent,
    quick=(("steps", 30), ("lr", 0.01)),
)


@pytest.fixture
def ascent() -> Iterator[methods.Method]:
    methods.register(ASCENT)
    yield ASCENT
    methods.unregister(ASCENT.name)


def test_a_registered_method_is_in_the_schema_and_validates(ascent) -> None:
    enum = Spec.model_json_schema()["$defs"]["Inference"]["properties"]["method"]["enum"]
    assert "ascent" in enum and {"map", "vi", "nuts", "gibbs"} <= set(enum)
    assert Inference(method="ascent").method == "ascent"
    methods.unregister("ascent")
    with pytest.raises(ValueError, match="Input should be 'map'"):
        Inference(method="ascent")


def test_a_registered_method_is_a_cli_choice(ascent) -> None:
    result = CliRunner().invoke(main, ["fit", "--help"])
    assert result.exit_code == 0
    assert "ascent" in result.output


def test_a_registered_method_is_in_the_conformance_suite(ascent) -> None:
    assert "ascent" in list(conformance.METHODS)
    assert conformance.seed_settings("ascent") == {"steps": 30, "lr": 0.01}


@pytest.mark.backend("numpyro")
def test_a_core_kernel_runs_on_any_backend_with_a_log_density(ascent) -> None:
    """numpyro has no native 'ascent': the driver runs the table's kernel over its density,
    checks the result (shape, finite loss) and times it."""
    pytest.importorskip("numpyro")
    backend = backends.get("numpyro")
    assert "ascent" not in backend.methods
    assert "ascent" in backends.offered_methods(backend)
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": "ascent", **dict(ascent.quick)})
    inferred = driver.run_inference(backend, p.model, settings)
    assert inferred.kernel == "core"
    conformance.check_fit_result(p, settings, inferred.result)
    conformance.check_loss_trace(p, settings, inferred.result)
    assert inferred.result.compile_s > 0 and inferred.result.fit_s > 0


def test_the_driver_refuses_a_diverged_loss() -> None:
    """A loss that is no longer finite is an error naming the method, whichever kernel."""
    p = prepare_example("group_means")
    settings = Inference(method="map", steps=3)
    result = FitResult(
        "map",
        {rv.name: np.zeros((1, 1, *rv.shape)) for rv in p.model.latents},
        loss=np.array([1.0, np.nan]),
    )
    with pytest.raises(driver.FitError, match="map diverged"):
        driver.finish(object(), p.model, settings, result)


def test_the_driver_derives_tree_depth_and_checks_shapes() -> None:
    p = prepare_example("group_means")
    settings = Inference(method="nuts", chains=2, draws=3)
    post = {rv.name: np.zeros((2, 3, *rv.shape)) for rv in p.model.latents}
    steps = np.array([[1, 3, 7], [8, 15, 2]])
    result = driver.finish(
        object(), p.model, settings, FitResult("nuts", post, sample_stats={"n_steps": steps})
    )
    np.testing.assert_array_equal(result.sample_stats["tree_depth"], [[1, 2, 3], [4, 4, 2]])
    wrong = FitResult("nuts", {k: v[:1] for k, v in post.items()})
    with pytest.raises(driver.FitError, match=r"\(1, 3\) \(chain, draw\)"):
        driver.finish(object(), p.model, settings, wrong)


def test_a_methods_own_default_applies_only_where_the_spec_leaves_the_setting_out() -> None:
    """cavi's tol default (1e-5) differs from em's (1e-8, the field's); a spec's tol wins, and
    a spec switched to cavi by --set gets cavi's default, so the resolved spec shows it."""
    assert dict(methods.get("cavi").defaults)["tol"] == 1e-5
    assert Inference(method="cavi").tol == 1e-5
    assert Inference(method="em").tol == 1e-8
    assert Inference().tol == 1e-8
    assert Inference(method="cavi", tol=1e-3).tol == 1e-3
    own = Inference.model_validate({"method": "cavi", "steps": 10})
    assert own.tol == 1e-5 and own.model_dump()["tol"] == 1e-5
