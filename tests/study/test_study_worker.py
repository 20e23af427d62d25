"""A study worker's thread caps: appended to the user's XLA_FLAGS, never over a flag they set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from specrec.study.worker import THREAD_VARS, limit_threads, with_thread_flags

OURS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=2"


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        ("", OURS),
        # the user's flags stay first and as written; ours follow
        (
            "--xla_force_host_platform_device_count=4",
            f"--xla_force_host_platform_device_count=4 {OURS}",
        ),
        # a flag the user set is neither repeated nor overridden (XLA's last token would win)
        (
            "--xla_cpu_multi_thread_eigen=true",
            "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2",
        ),
        (
            "--xla_cpu_multi_thread_eigen",
            "--xla_cpu_multi_thread_eigen intra_op_parallelism_threads=2",
        ),
        (
            "intra_op_parallelism_threads=8 --xla_dump_to=/tmp/x",
            "intra_op_parallelism_threads=8 --xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false",
        ),
        # both set: the user's string comes back untouched
        (f"  {OURS}  ", f"  {OURS}  "),
    ],
)
def test_thread_flags_are_appended_except_those_already_set(users, expected):
    assert with_thread_flags(users, "2") == expected


def test_limit_threads_twice_adds_nothing_the_second_time(monkeypatch):
    # the local pool's initializer and then each cell call it in the same process
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    limit_threads(2)
    limit_threads(3)
    assert os.environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {OURS}"
    assert all(os.environ[var] == "3" for var in THREAD_VARS)


@pytest.mark.backend("numpyro")
def test_jax_starts_under_the_flags_a_worker_sets():
    # the spelling matters: a flag XLA does not know aborts the process when JAX starts
    pytest.importorskip("jax")
    env = {
        **os.environ,
        "XLA_FLAGS": with_thread_flags("--xla_force_host_platform_device_count=2", "1"),
    }
    code = "import jax; print(jax.device_count(), float(jax.numpy.ones(3).sum()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # the user's own flag took effect next to ours
    assert out.stdout.split() == ["2", "3.0"]
