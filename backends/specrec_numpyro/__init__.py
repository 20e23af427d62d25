"""NumPyro backend for specrec: a thin translator of specrec's model representation."""

from specrec_numpyro.backend import NumPyroBackend

__all__ = ["NumPyroBackend"]
