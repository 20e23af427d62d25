"""PyMC backend for specrec: a thin translator of specrec's model representation."""

from specrec_pymc.backend import PyMCBackend

__all__ = ["PyMCBackend"]
