"""The passes that lower a validated spec to the model representation (``specrec.model.lower``
composes them; see its docstring for the order)."""
