"""The short human summary printed after a fit (a table a person reads in five seconds)."""

from __future__ import annotations


def _is_mcmc(method: object) -> bool:
    """Whether a saved run's method gives chains (a method this specrec does not know: no)."""
    from specrec import methods

    return method in methods.names() and methods.is_mcmc(str(method))


def _fmt(x: object, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def fit_summary(metrics: dict, path: object | None) -> str:
    m, d, t = metrics["metrics"], metrics["diagnostics"], metrics["timing"]
    test, train = m["test"], m["train"]
    from specrec.evaluate.metrics import coverages

    shown_coverage = coverages(test)[:1]
    lines = [
        f"{metrics['spec']['name']}  {metrics['inference']['method']} on "
        f"{metrics['backend']['name']} {metrics['backend']['version']}  "
        f"(seed {metrics['seed']}, split {metrics['split']['kind']} "
        f"{metrics['split']['n_train']}/{metrics['split']['n_test']})",
        "",
        f"  {'':<18}{'RMSE':>9}{'MAE':>9}",
        f"  {'model (test)':<18}{_fmt(test['rmse']):>9}{_fmt(test['mae']):>9}",
        f"  {'model (train)':<18}{_fmt(train['rmse']):>9}{_fmt(train['mae']):>9}",
    ]
    for name, b in metrics["baselines"].items():
        lines.append(f"  {name:<18}{_fmt(b['rmse']):>9}{_fmt(b['mae']):>9}")
    lines.append("")
    for cov_key, pct in shown_coverage:
        lines.append(f"  {pct} % predictive interval coverage (test): {_fmt(test[cov_key], 3)}")
    lines += _honesty_lines(test, m.get("loo"))
    lines += _idata_lines(metrics.get("idata"))
    if _is_mcmc(d.get("method")):
        lines.append(
            f"  divergences {d.get('divergences')}, R-hat max {_fmt(d.get('rhat_max'), 3)} "
            f"(predictions {_fmt(d.get('pred_rhat_max'), 3)}), ESS bulk min "
            f"{_fmt(d.get('ess_bulk_min'), 1)} (predictions {_fmt(d.get('pred_ess_bulk_min'), 1)})"
        )
        lines += _factor_lines(d.get("factors"), d.get("tree_depth"))
    elif "loss_final" in d:
        conv = d.get("loss_convergence") or {}
        lines.append(
            f"  final loss {d['loss_final']:.1f}, converged: {_yes_no(conv.get('converged'))} "
            f"(relative change {_fmt(conv.get('rel_change'), 5)})"
        )
    lines += _slice_lines(metrics["backend"])
    lines += _parameter_lines(d.get("parameters"), d.get("verdict"))
    lines += _mixture_lines(d.get("mixture"), metrics.get("restarts"))
    cold = m.get("cold_start_test_rows") or {}
    if any(cold.values()):
        lines.append(
            "  cold-start test rows (predicted from the population): "
            + ", ".join(f"{k} {v}" for k, v in cold.items())
        )
    wall = t.get("wall_s", t.get("total_s"))  # runs written before wall_s say total_s
    lines.append(
        f"  fit {t['fit_s']:.1f} s, compile {t['compile_s']:.1f} s{_cache_note(metrics)}, "
        f"evaluate {_fmt(t.get('evaluate_s'), 1)} s, wall {_fmt(wall, 1)} s"
    )
    if path is not None:
        lines.append(f"  run saved to {path}")
    return "\n".join(lines)


def _factor_lines(factors: dict | None, depth: dict | None) -> list[str]:
    """R-hat and bulk ESS on ||U||_F, ||V||_F and U V^T entries (identified, unlike U and V),
    and the share of NUTS draws that reached max_tree_depth."""
    from specrec.evaluate.verdict import factor_labels

    lines = []
    if factors:
        cells = [
            f"{what} R-hat {_fmt(v['rhat_max'], 3)} ESS {_fmt(v['ess_bulk_min'], 1)}"
            for what, v in factor_labels(factors)
        ]
        lines.append("  rotation-invariant: " + ", ".join(cells))
    if depth:
        lines.append(
            f"  tree depth: {depth['fraction']:.1%} of draws reached max_tree_depth "
            f"{depth['max_tree_depth']}"
        )
    return lines


def _slice_lines(backend: dict) -> list[str]:
    """Gibbs: which parameters had no closed-form conditional and got slice steps instead."""
    sliced, updates = backend.get("slice_steps"), backend.get("updates") or []
    if sliced is None:
        return []
    closed = len(updates) - len(sliced)
    if not sliced:
        return [f"  gibbs: every parameter ({closed}) drawn from its closed-form conditional"]
    return [
        f"  gibbs: slice steps on {', '.join(sliced)}; {closed} of {len(updates)} parameters "
        "drawn from closed-form conditionals (specrec explain says why)"
    ]


def _cache_note(metrics: dict) -> str:
    """How the persistent compilation cache served the fit (JAX backends), or nothing."""
    cache = metrics["backend"].get("compile_cache")
    if not cache:
        return ""
    if cache.get("dir") is None:
        return " (no compilation cache)"
    return f" ({cache['hits']} of {cache['lookups']} programs from the compilation cache)"


def _mixture_lines(mix: dict | None, restarts: dict | None) -> list[str]:
    """A mixture's data log-likelihood and non-empty components, and every start's."""
    if not mix or "log_likelihood" not in mix:
        return []
    lines = [
        f"  mixture: log-likelihood {mix['log_likelihood']:.1f} (component summed out, no "
        f"priors), {mix['nonempty_components']} of {mix['components']} components non-empty"
    ]
    if restarts and "log_likelihood" in restarts:
        starts = ", ".join(
            f"{ll:.1f} ({n})"
            for ll, n in zip(
                restarts["log_likelihood"], restarts["nonempty_components"], strict=True
            )
        )
        lines.append(
            f"  starts: log-likelihood (non-empty) {starts}; kept start {restarts['chosen']}"
        )
    return lines


def _honesty_lines(test: dict, loo: dict | None) -> list[str]:
    """Log density, interval coverage, ranking, RMSE by activity and PSIS-LOO, when present."""
    lines = []
    if "log_predictive_density" in test:
        cov = ", ".join(f"{k} % {_fmt(v, 3)}" for k, v in test["interval_coverage"].items())
        lines.append(
            f"  log predictive density {_fmt(test['log_predictive_density'], 3)} per rating; "
            f"interval coverage {cov}"
        )
    r = test.get("ranking")
    if r:
        lines.append(
            f"  ranking per {r['per']} (k {r['k']}, relevant >= {r['threshold']:g}, "
            f"{r['n_lists']} lists): precision {_fmt(r['precision'], 3)} (random "
            f"{_fmt(r['precision_random'], 3)}), recall {_fmt(r['recall'], 3)} (random "
            f"{_fmt(r['recall_random'], 3)}), NDCG {_fmt(r['ndcg'], 3)}"
        )
    for dim, buckets in (test.get("rmse_by_activity") or {}).items():
        cells = [f"{b} {_fmt(v['rmse'], 3)} ({v['n']})" for b, v in buckets.items() if v["n"]]
        lines.append(f"  test RMSE by {dim} training ratings: " + ", ".join(cells))
    if loo and "skipped" in loo:
        lines.append(f"  PSIS-LOO skipped: {loo['skipped']}")
    elif loo:
        unit = {"row": "rating", None: "rating"}.get(loo.get("unit"), loo.get("unit"))
        warn = (
            f"; WARNING {loo['n_pareto_k_above_good']} {unit}s with Pareto k > {loo['good_k']:.2f}"
            if loo["warning"]
            else ""
        )
        lines.append(
            f"  PSIS-LOO elpd {loo['elpd_loo']:.1f} (se {loo['se']:.1f}, "
            f"{loo['elpd_loo_per_rating']:.3f} per {unit}), p_loo {loo['p_loo']:.1f}{warn}"
        )
    return lines


#: az.summary columns shown in the terminal, with their headings; rows shown at most.
_PARAM_COLUMNS = [("mean", "mean"), ("sd", "sd"), ("hdi_3%", "hdi 3%"), ("hdi_97%", "hdi 97%"),
                  ("mcse_mean", "mcse"), ("ess_bulk", "ess bulk"), ("ess_tail", "ess tail"),
                  ("r_hat", "r_hat")]  # fmt: skip
_PARAM_ROWS = 12


def _parameter_lines(table: dict | None, verdict: dict | None) -> list[str]:
    """The hyperparameters' az.summary table and the verdict (expected vs real warnings)."""
    lines = []
    if table:
        cols = [(k, h) for k, h in _PARAM_COLUMNS if any(k in row for row in table.values())]
        width = max(10, *(len(label) + 2 for label in table))
        lines.append("  " + f"{'parameter':<{width}}" + "".join(f"{h:>9}" for _, h in cols))
        for label, row in list(table.items())[:_PARAM_ROWS]:
            digits = {"ess_bulk": 0, "ess_tail": 0, "r_hat": 3}
            cells = [
                "-" if row.get(k) is None else f"{row[k]:.{digits.get(k, 3)}f}" for k, _ in cols
            ]
            lines.append("  " + f"{label:<{width}}" + "".join(f"{c:>9}" for c in cells))
        if len(table) > _PARAM_ROWS:
            lines.append(f"  ... {len(table) - _PARAM_ROWS} more in metrics.json (diagnostics)")
    if verdict is not None:
        warnings = verdict.get("warnings") or []
        lines.append(
            "  verdict: " + ("WARNING " + "; ".join(warnings) if warnings else "no real warning")
        )
        lines += [f"  expected, not a warning: {e}" for e in verdict.get("expected") or []]
    return lines


def _idata_lines(idata: dict | None) -> list[str]:
    """Which ArviZ groups posterior.nc left out and why (runs before format 2 say nothing)."""
    if not idata:
        return []
    lines = [f"  posterior.nc left out {g}: {why}" for g, why in idata.get("left_out", {}).items()]
    return lines + [f"  posterior.nc {g}: {note}" for g, note in idata.get("notes", {}).items()]


_COMPARE_ROWS = [
    ("version", "version", None),
    ("test RMSE", "test_rmse", 4),
    ("test MAE", "test_mae", 4),
    ("coverage", "coverage", 3),
    ("divergences", "divergences", None),
    ("R-hat max (params)", "rhat_max", 3),
    ("R-hat max (preds)", "pred_rhat_max", 3),
    ("ESS bulk min", "ess_bulk_min", 1),
    ("ESS bulk min (preds)", "pred_ess_bulk_min", 1),
    ("ESS/s", "ess_per_s", 1),
    ("fit s", "fit_s", 1),
    ("compile s", "compile_s", 1),
    ("us per logp+grad", "us_per_eval", 0),
]


_NUTS_ONLY = {
    "divergences",
    "rhat_max",
    "pred_rhat_max",
    "ess_bulk_min",
    "pred_ess_bulk_min",
    "ess_per_s",
}


def _fixed(v: float, digits: int) -> str:
    """``v`` with ``digits`` decimals, or with two significant digits when those decimals would
    show a value that is not zero as 0 (an ESS/s of 0.023 is not "0.0")."""
    if v != 0 and abs(v) < 0.5 * 10.0**-digits:
        return f"{v:.2g}"
    return f"{v:,.{digits}f}"


def compare_summary(report: dict, path: object | None) -> str:
    """``specrec compare``'s table: one column per backend, then agreement and where it went."""
    rows = report["rows"]
    split = report.get("split") or {}
    head = f"{report['spec']['name']}  {report['method']}  (seed {report['seed']}"
    if split:
        head += f", split {split['kind']} {split['n_train']}/{split['n_test']}"
    lines = [head + ")", ""]
    names = [r.get("label") or r["backend"] for r in rows]  # "backend/method" for --methods
    width = max(11, *(len(n) + 2 for n in names)) if rows else 11
    lines.append(f"  {'':<22}" + "".join(f"{n:>{width}}" for n in names))
    mcmc = any(_is_mcmc(m) for m in report.get("methods") or [report["method"]])
    for label, key, digits in _COMPARE_ROWS:
        if key in _NUTS_ONLY and not mcmc:
            continue
        cells = []
        for r in rows:
            v = r.get(key)
            if not r["ok"] and key != "us_per_eval":
                cells.append("FAILED" if key == "version" else "-")
            elif isinstance(v, float) and digits is not None:
                cells.append(_fixed(v, digits))
            else:
                cells.append(_fmt(v))
        lines.append(f"  {label:<22}" + "".join(f"{c:>{width}}" for c in cells))
    base = report.get("baselines") or {}
    if base:
        lines.append(
            "  baselines (test RMSE): " + ", ".join(f"{k} {v['rmse']:.4f}" for k, v in base.items())
        )
    lines.append("")
    if not report["fingerprints_match"]:
        lines.append("  NOT COMPARABLE: the backends saw different inputs")
        lines += [f"    {m}" for m in report["mismatches"]]
    lines += _agreement_lines(report["agreement"])
    lines.append("")
    for r, name in zip(rows, names, strict=True):
        where = r["run_dir"] if r["ok"] else "FAILED"
        lines.append(f"  {name}: {where}")
        if r.get("error"):
            lines += [f"      {line}" for line in str(r["error"]).splitlines()]
    if path is not None:
        lines.append(f"  comparison saved to {path}")
    return "\n".join(lines)


def _agreement_lines(agree: dict) -> list[str]:
    pairs = agree.get("pairs") or []
    if not pairs:
        return [f"  agreement: not checked ({agree.get('note', 'nothing to compare')})"]
    lines = [
        f"  agreement of posterior means ({agree['n_params']} hyperparameter elements, "
        f"{agree['n_predictions']} test-pair predictions):"
    ]
    for p in pairs:
        if "error" in p:
            lines.append(f"    {p['a']} vs {p['b']}: {p['error']}")
            continue
        diffs = (
            f"max |diff| params {_fmt(p['max_abs_diff_param'])}, "
            f"predictions {_fmt(p['max_abs_diff_prediction'])}"
        )
        if p["test"] == "z":
            lines.append(
                f"    {p['a']} vs {p['b']}: max z {_fmt(p['max_z'], 2)}, "
                f"{p['n_flagged']} flagged (z > {agree['z_flag']:g}); {diffs}"
            )
        elif p["test"] == "prediction bound":
            verdict = "FLAGGED" if p["predictions_flagged"] else "ok"
            lines.append(
                f"    {p['a']} vs {p['b']}: predictions RMS diff {_fmt(p['rms_diff_prediction'])}"
                f" vs bound {p['pred_fraction']:g} x test RMSE = {_fmt(p['bound'])}: {verdict};"
                f" {diffs}; parameters not tested (not sampled: no Monte Carlo error)"
            )
        else:
            lines.append(f"    {p['a']} vs {p['b']}: not tested (no z test, no test RMSE); {diffs}")
    if agree.get("unidentified"):
        lines.append(
            "    not flagged (sign/rotation of the latent factors): "
            + ", ".join(agree["unidentified"])
        )
    if agree.get("flagged"):
        lines.append("  FLAGGED:")
        lines += [f"    {f}" for f in agree["flagged"]]
    return lines


def _yes_no(flag: object) -> str:
    """A flag as a word, as the report writes it ("converged: yes"), never Python's True."""
    return "-" if flag is None else "yes" if flag else "no"
