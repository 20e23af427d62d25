"""What the JAX-using backends (NumPyro, and PyMC through pytensor's JAX linker and its
numpyro/blackjax samplers) share: XLA's CPU flags and the persistent compilation cache.

Not a backend (it has no ``specrec.backends`` entry point), and not the core: specrec itself
imports no JAX, and learns what the cache did only through a backend's ``compile_cache()``.
"""
