"""The spec language: YAML with positions, pydantic models, expressions."""
