"""Metrics, baselines and diagnostics; reads InferenceData and arrays, never a backend."""
