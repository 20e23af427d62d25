"""The backend-neutral model representation and the lowering from a spec."""
