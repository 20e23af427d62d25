"""The evaluator must stay backend-blind: importing it must not pull in any PPL."""

from __future__ import annotations

import subprocess
import sys

PPLS = ("jax", "numpyro", "pymc", "pytensor", "pyro", "torch")


def test_evaluate_imports_no_ppl():
    code = (
        "import sys\n"
        "import specrec.evaluate.metrics, specrec.evaluate.baselines\n"
        "import specrec.evaluate.diagnostics, specrec.evaluate.plots\n"
        f"print(','.join(m for m in {PPLS!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
