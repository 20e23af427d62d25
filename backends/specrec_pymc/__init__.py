"""PyMC backend for specrec: a thin translator of specrec's model representation."""

from specrec_jax.xla_flags import prefer_fast_cpu_fusions

prefer_fast_cpu_fusions()  # before this backend's first JAX computation reads XLA_FLAGS

from specrec_pymc.backend import PyMCBackend  # noqa: E402

__all__ = ["PyMCBackend"]
