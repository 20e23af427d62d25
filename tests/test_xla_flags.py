"""XLA flags are set before JAX starts and never over a user's own choice."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from specrec_jax.xla_flags import NO_YNN_FUSIONS, add_flag


def _flags_after(code: str, env_flags: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if env_flags is not None:
        env["XLA_FLAGS"] = env_flags
    script = f"import os\n{code}\nprint('flags:', os.environ.get('XLA_FLAGS', ''))"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1].removeprefix("flags:").strip()


def test_add_flag_appends_once_and_keeps_the_users_value(monkeypatch):
    # In-process: another test in this worker may have started JAX already, which alone
    # makes add_flag a no-op (tested below in a fresh interpreter).
    monkeypatch.setattr("specrec_jax.xla_flags._jax_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
    assert not add_flag(NO_YNN_FUSIONS)
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=dot"
    assert add_flag("--xla_some_flag=1")
    assert not add_flag("--xla_some_flag=2")
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_cpu_experimental_ynn_fusion_type=dot",
        "--xla_some_flag=1",
    ]


@pytest.mark.backend("numpyro")
def test_importing_the_numpyro_backend_switches_ynn_fusions_off_unless_the_user_chose():
    code = "import specrec_numpyro"
    assert NO_YNN_FUSIONS in _flags_after(code, None).split()
    # the user's own token, as written, and no second one (the host device count may follow)
    kept = _flags_after(code, "--xla_cpu_experimental_ynn_fusion_type=dot").split()
    assert kept[0] == "--xla_cpu_experimental_ynn_fusion_type=dot"
    assert not any(t.startswith("--xla_cpu_experimental_ynn") for t in kept[1:])


@pytest.mark.backend("numpyro")
def test_a_flag_is_not_added_once_jax_has_started():
    code = "import jax; jax.numpy.zeros(1).block_until_ready()\n"
    code += "from specrec_jax.xla_flags import add_flag; assert not add_flag('--xla_x=1')"
    assert "--xla_x" not in _flags_after(code, None)
