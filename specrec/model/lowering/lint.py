"""Lint: what a spec declares but never uses (parameters, covariates, let helpers, dims).

Uses inside an expression that failed to lower are unknown, so these are reported only when
every prior and the likelihood were lowered.
"""

from __future__ import annotations

from specrec.model.ir import RandomVariable
from specrec.model.lowering.mixtures import MixturePass


class LintPass(MixturePass):
    def report_unused(
        self,
        nodes: dict[str, tuple[RandomVariable, set[str]]],
        lik: RandomVariable | None,
        lik_refs: set[str],
    ) -> None:
        reachable: set[str] = set()
        todo = list(lik_refs)
        while todo:
            n = todo.pop()
            if n in reachable:
                continue
            reachable.add(n)
            if n in nodes:
                todo += nodes[n][1]
            if n in self.derived:
                todo += self.derived[n][1]
        # a non-centred param used by another prior is reached through its <name>_raw
        reachable |= {n for n, raw in self.raw_of.items() if raw in reachable}
        # Uses inside an expression that failed are unknown: report unused names only when
        # every prior and the likelihood were lowered.
        complete = lik is not None and all(n in nodes or n in self.derived for n in self.params)
        if complete:
            for name in self.params:
                if name not in reachable:
                    self.problem(
                        ("params", name),
                        f"parameter {name!r} is never used by the likelihood",
                        key=True,
                    )
        for name in self.spec.data.covariates:
            if name not in self.covariates and complete and not self.problems:
                self.problem(
                    ("data", "covariates", name), f"covariate {name!r} is never used", key=True
                )
        for name in self.spec.let:
            if name not in self.used_lets and complete:
                self.problem(("let", name), f"let helper {name!r} is never used", key=True)
        for name in self.dims:
            if name not in self.used_dims and complete and not self.problems:
                self.problem(("dims", name), f"dim {name!r} is declared but never used", key=True)
