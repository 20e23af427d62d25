"""Studies: grids of ordinary fits (specs x backends x methods x seeds x splits x overrides).

A study file (``file``) expands into cells (``cells``), each an ordinary resolved spec fitted by
``specrec.fitting.fit`` in a worker process (``executors``, ``worker``), recorded one row per cell
in a SQLite store beside the study (``store``) by the runner (``runner``), and summarised by
``report``.  This package imports no PPL: workers import the backend they fit with.
"""
