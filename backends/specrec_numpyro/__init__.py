"""NumPyro backend for specrec: a thin translator of specrec's model representation."""

from specrec_jax import cache
from specrec_jax.xla_flags import prefer_fast_cpu_fusions, use_host_devices

prefer_fast_cpu_fusions()  # before this backend's first JAX computation reads XLA_FLAGS
use_host_devices()  # a CPU device per core, for parallel NUTS chains
cache.enable()  # the persistent compilation cache, before the first compile

from specrec_numpyro.backend import NumPyroBackend  # noqa: E402

__all__ = ["NumPyroBackend"]
