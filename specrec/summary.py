"""The short human summary printed after a fit (a table a person reads in five seconds)."""

from __future__ import annotations


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
    cov_key = next((k for k in test if k.startswith("coverage_")), None)
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
    if cov_key:
        pct = cov_key.removeprefix("coverage_").replace("_", ".")
        lines.append(f"  {pct} % predictive interval coverage (test): {_fmt(test[cov_key], 3)}")
    if d.get("method") == "nuts":
        lines.append(
            f"  divergences {d.get('divergences')}, R-hat max {_fmt(d.get('rhat_max'), 3)} "
            f"(predictions {_fmt(d.get('pred_rhat_max'), 3)}), ESS bulk min "
            f"{_fmt(d.get('ess_bulk_min'), 1)} (predictions {_fmt(d.get('pred_ess_bulk_min'), 1)})"
        )
    elif "loss_final" in d:
        conv = d.get("loss_convergence") or {}
        lines.append(
            f"  final loss {d['loss_final']:.1f}, converged: {conv.get('converged')} "
            f"(relative change {_fmt(conv.get('rel_change'), 5)})"
        )
    cold = m.get("cold_start_test_rows") or {}
    if any(cold.values()):
        lines.append(
            "  cold-start test rows (predicted from the population): "
            + ", ".join(f"{k} {v}" for k, v in cold.items())
        )
    lines.append(
        f"  fit {t['fit_s']:.1f} s, compile {t['compile_s']:.1f} s, total {t['total_s']:.1f} s"
    )
    if path is not None:
        lines.append(f"  run saved to {path}")
    return "\n".join(lines)
