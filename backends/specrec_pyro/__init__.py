"""Pyro backend for specrec: a thin translator of specrec's model representation."""

from specrec_pyro.backend import PyroBackend

__all__ = ["PyroBackend"]
