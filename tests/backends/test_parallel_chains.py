"""NUTS chains run in parallel on a CPU device per core, with the same draws as one at a time.

The number of JAX devices is fixed when JAX starts, so each count runs in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from specrec_jax import xla_flags

SPECS = Path(__file__).resolve().parents[2] / "specs"

#: three chains on two devices: chains 0 and 2 share device 0, chain 1 runs beside them
FIT = """
import sys
import numpy as np
from specrec import backends, driver
from specrec.data.simulate import simulate
from specrec.model import reference as R
from specrec.model.lower import lower
from specrec.spec.load import load_spec

over = ["data.sizes.user=20", "data.sizes.item=15", "data.density=0.4", "inference.chains=3",
        "inference.warmup=40", "inference.draws=15"]
loaded = load_spec(sys.argv[1], over)
model = lower(loaded, simulate(loaded))
s = loaded.spec.inference
init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
r = driver.run_kernel(backends.get("numpyro"), model, s, init, progress=False)
np.savez(sys.argv[2], **r.posterior, **{"stats." + k: v for k, v in r.sample_stats.items()})
print(r.info["chain_method"], r.info["devices"])
"""


def _env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["XLA_FLAGS"] = f"{xla_flags.HOST_DEVICES}={devices}"
    return env


@pytest.mark.backend("numpyro")
def test_parallel_chains_draw_exactly_what_sequential_chains_draw(tmp_path):
    spec = str(SPECS / "quickstart.yaml")
    procs = {
        n: subprocess.Popen(
            [sys.executable, "-c", FIT, spec, str(tmp_path / f"{n}.npz")],
            env=_env(n),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)  # both at once: the two processes take about as long as one
    }
    said = {}
    for n, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        said[n] = out.split()
    assert said == {1: ["sequential", "1"], 2: ["parallel", "2"]}
    one, two = np.load(tmp_path / "1.npz"), np.load(tmp_path / "2.npz")
    assert sorted(one.files) == sorted(two.files)
    assert {"mu", "U", "stats.lp", "stats.step_size"} <= set(one.files)
    for name in one.files:
        assert one[name].shape[:2] == (3, 15), name
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert not np.array_equal(one["mu"][0], one["mu"][1])  # the chains are not one chain


def test_cores_follow_a_thread_cap_in_xla_flags(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    mine = xla_flags.cores()
    assert mine >= 1
    monkeypatch.setenv(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    assert xla_flags.cores() == 1  # a study worker's share of the cores
    monkeypatch.setenv("XLA_FLAGS", "intra_op_parallelism_threads=999")
    assert xla_flags.cores() == mine


def test_host_devices_are_added_once_and_never_over_the_users_count(monkeypatch):
    monkeypatch.setattr("specrec_jax.xla_flags._jax_started", lambda: False)
    monkeypatch.setattr("specrec_jax.xla_flags.cores", lambda: 4)
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    assert not xla_flags.use_host_devices()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
    monkeypatch.setenv("XLA_FLAGS", "--xla_a=1")
    assert xla_flags.use_host_devices()
    assert not xla_flags.use_host_devices()
    assert os.environ["XLA_FLAGS"].split() == ["--xla_a=1", f"{xla_flags.HOST_DEVICES}=4"]
    monkeypatch.setattr("specrec_jax.xla_flags.cores", lambda: 1)
    monkeypatch.setenv("XLA_FLAGS", "")
    assert not xla_flags.use_host_devices()  # one core: JAX's default of one device


@pytest.mark.backend("numpyro")
@pytest.mark.parametrize(
    "flags", [None, "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"]
)
def test_importing_the_numpyro_backend_makes_a_device_per_core(flags):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags:  # a study worker's thread cap: one device, its chains one by one
        env["XLA_FLAGS"] = flags
    code = "import specrec_numpyro, jax; print(jax.local_device_count())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == (1 if flags else xla_flags.cores())


@pytest.mark.parametrize("limit", ["1", ""])
def test_pymc_chain_processes_follow_the_process_share_of_cores(limit):
    """A study worker sets OMP_NUM_THREADS to its share; PyMC must not start more processes."""
    code = "from specrec_pymc.backend import _cores; print(_cores(2))"
    env = {**os.environ, "OMP_NUM_THREADS": limit}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = 1 if limit else min(2, len(os.sched_getaffinity(0)))
    assert int(out.stdout.split()[-1]) == expected
