"""The same spec and seed fitted twice on NumPyro agree.

Predictions and the test RMSE are identical.  The recorded final loss (the mean over the last
steps of the float32 loss curve) is allowed to differ from run to run in its last float32
digits: XLA's CPU kernels may sum in a different order between processes and compilations, and
a float32 sum carries about 7 significant digits.  The agreed tolerance is a relative 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_texts import tiny_biases

import specrec
from specrec import rundir

pytestmark = pytest.mark.backend("numpyro")

SPEC = tiny_biases("twice", "{steps: 40, draws: 20, seed: 3}")

#: How closely two fits' final losses agree (relative); see the module docstring.
LOSS_RTOL = 1e-6


@pytest.mark.parametrize("method", ["map", "vi"])
def test_a_rerun_gives_the_same_predictions_and_rmse(tmp_path: Path, method: str) -> None:
    spec = tmp_path / "twice.yaml"
    spec.write_text(SPEC)
    runs = [
        specrec.fit(spec, method=method, out=tmp_path / f"out{i}", progress=False) for i in range(2)
    ]
    first, second = (r.metrics for r in runs)
    assert first["metrics"]["test"]["rmse"] == second["metrics"]["test"]["rmse"]
    predictions = [(r.path / rundir.FILES["predictions"]).read_bytes() for r in runs]
    assert predictions[0] == predictions[1]
    loss = [m["diagnostics"]["loss_final"] for m in (first, second)]
    assert loss[0] == pytest.approx(loss[1], rel=LOSS_RTOL)
