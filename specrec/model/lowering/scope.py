"""Names and scope: the dims (sizes and coordinates from the data), name clashes, and the
evaluation settings that refer to dims."""

from __future__ import annotations

import numpy as np

from specrec.model.ir import OBS, Dim
from specrec.model.lowering.state import PLACEHOLDER_SIZE, LoweringState
from specrec.spec.models import DataDim


class ScopePass(LoweringState):
    # ---- dims ------------------------------------------------------------------------------------
    def lower_dims(self) -> None:
        names = set(self.spec.dims)
        for clash in sorted(names & (set(self.params) | set(self.spec.let))):
            self.problem(
                ("dims", clash), f"{clash!r} is both a dim and a parameter or let name", key=True
            )
        taken = names | set(self.params) | set(self.spec.let)
        for clash in sorted(set(self.spec.data.covariates) & taken):
            self.problem(
                ("data", "covariates", clash),
                f"covariate {clash!r} has the name of a dim, parameter or let helper",
                key=True,
            )
        for name, d in self.spec.dims.items():
            if name == OBS:
                self.problem(("dims", name), f"{OBS!r} is reserved for observation rows", key=True)
                continue
            if isinstance(d, DataDim):
                if self.train is None:
                    coords = np.arange(PLACEHOLDER_SIZE)
                elif d.column not in self.train.codes:
                    cols = sorted(self.train.codes)
                    self.problem(
                        ("dims", name, "column"),
                        f"the data has no categorical column {d.column!r}",
                        expected=", ".join(cols) or "(none)",
                        found=repr(d.column),
                        hint=self.suggest(d.column, cols),
                    )
                    coords = np.arange(PLACEHOLDER_SIZE)
                else:
                    coords = self.train.levels[d.column]
                self.dims[name] = Dim(name, len(coords), coords, d.column)
            else:
                self.dims[name] = Dim(name, int(d), np.arange(int(d)), None)

    def check_evaluate(self) -> None:
        """The ranking settings must fit the data: a data dim to rank per, a usable threshold."""
        ranking = self.spec.evaluate.ranking
        data_dims = [n for n in self.spec.dims if self.is_data_dim(n)]
        if ranking.per is not None and ranking.per not in data_dims:
            self.problem(
                ("evaluate", "ranking", "per"),
                "ranking is per level of a data dim",
                expected=", ".join(data_dims) or "(no data dim)",
                found=repr(ranking.per),
                hint=self.suggest(ranking.per, data_dims),
            )
        value_range = self.spec.data.range
        if value_range is not None and not value_range[0] < ranking.threshold <= value_range[1]:
            self.problem(
                ("evaluate", "ranking", "threshold"),
                "no rating could be relevant, or every one would be",
                expected=f"a rating in ({value_range[0]:g}, {value_range[1]:g}] (data.range)",
                found=f"{ranking.threshold:g}",
            )
