"""Simulation-based calibration of the built-in backends with many simulations.

    flock /work/bench.lock python benchmarks/sbc.py --backends numpyro,pymc,pyro --sims 100

Runs ``specrec sbc`` (``specrec.sbc.run_sbc``) on ``benchmarks/sbc_groups.yaml`` for each
backend and writes ``benchmarks/results/sbc.json`` and ``sbc.md`` (p-values per parameter,
mean fractional rank, divergences, time, machine and library versions).  The tests run the
same check with 8 simulations; this is the check with power.
"""

from __future__ import annotations

import argparse
import time

from record import RESULTS, ROOT, machine, write

from specrec.fitting import versions
from specrec.registry import backend_versions
from specrec.sbc import run_sbc

SPEC = ROOT / "benchmarks" / "sbc_groups.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="numpyro,pymc,pyro")
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--note", default="", help="e.g. 'shared machine, other work running'")
    args = ap.parse_args()
    rows = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        sets = list(args.sets) + (["inference.sampler=pymc"] if name == "pymc" else [])
        t0 = time.perf_counter()
        r = run_sbc(SPEC, name, args.sims, overrides=sets, out=None, log=print)
        rep = r.report
        rows.append(
            {
                "backend": name,
                "version": rep["backend"]["version"],
                "sims": rep["sims"],
                "bins": rep["bins"],
                "threshold": rep["test"]["threshold"],
                "params": [
                    {k: p[k] for k in ("param", "chi2", "df", "p", "mean_u", "flagged")}
                    for p in rep["params"]
                ],
                "divergences": rep["divergences"],
                "seconds": time.perf_counter() - t0,
                "versions": versions() | backend_versions(name),
            }
        )
    host = machine(args.note)
    out = {"spec": str(SPEC.relative_to(ROOT)), "machine": host, "runs": rows}
    lines = [
        f"# SBC of `{out['spec']}`",
        "",
        f"Machine: {host.get('cpu') or host['platform']}, {host['cpus']} CPUs. {args.note}",
        "",
        "| backend | sims | parameter | chi2 (df) | p | mean rank | flagged | divergences | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for p in row["params"]:
            lines.append(
                f"| {row['backend']} {row['version']} | {row['sims']} | {p['param']} | "
                f"{p['chi2']:.1f} ({p['df']}) | {p['p']:.3g} | {p['mean_u']:.2f} | "
                f"{'yes' if p['flagged'] else 'no'} | {row['divergences']} | {row['seconds']:.0f} |"
            )
    lines += ["", f"Flagged when p < {rows[0]['threshold']:.3g} (0.01 / parameters, Bonferroni)."]
    write(RESULTS / "sbc.json", out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
