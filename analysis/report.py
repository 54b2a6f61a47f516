"""``nafill analyze``: a summary table, JSON and one figure per analysis for one or more runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nafill.analysis.compare import (
    barrier_vs_size,
    connected_comparison,
    orifice_scan,
    path_label,
    summary_table,
)
from nafill.analysis.plots import plot_barrier_vs_size, plot_orifice_scan, plot_path, plot_profiles
from nafill.constants import TEST_ONLY_BACKENDS


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            return _clean(x.item())
        except (ValueError, AttributeError):
            return x
    return x


def analyze(paths, plots_dir: Path | None = None, tol_eV: float = 0.05, mass_convention: str = "all-carbon",
            valence: float | None = None, gamma_J_m2: float | None = None,
            theta_deg: float | None = None) -> dict[str, Any]:
    """Every analysis that applies to ``paths``; writes PNGs into ``plots_dir`` when given.

    Returns a JSON-safe dict: ``paths`` (summary rows), ``barrier_vs_size`` (table + fit, with two
    or more cavities), ``orifice_scan`` (rows), ``connected`` (comparisons), ``plots`` (files).
    """
    table = summary_table(paths, tol_eV, mass_convention, valence)
    result: dict[str, Any] = {"paths": table.to_dict(orient="records"), "plots": [],
                              "definitions": {
                                  "barrier": f"highest H before H first falls by > {tol_eV} eV below it",
                                  "practical_capacity": "largest x at the global minimum of H (H < 0)",
                                  "theoretical_capacity": "Na at bcc density in the pore less 0.9 A per wall",
                                  "mAh_g": "Q = x v F / (3.6 M_host)"}}
    plots: list[Path] = []
    if plots_dir is not None:
        plots_dir = Path(plots_dir)
        plots_dir.mkdir(parents=True, exist_ok=True)
        for k, p in enumerate(paths):
            plots.append(plot_path(p, plots_dir / f"profile_{k}.png"))
    n_cav = int(table["kind"].isin(["cavity", "bilayer"]).sum())
    if n_cav >= 2:
        bt, fit = barrier_vs_size(paths, tol_eV)
        result["barrier_vs_size"] = {"table": bt[["label", "size_nm", "nucleation", "barrier_eV",
                                                  "critical_size"]].to_dict(orient="records"),
                                     "fit": fit.as_dict() if fit else None}
        if plots_dir is not None:
            plots.append(plot_barrier_vs_size(bt, fit, plots_dir / "barrier_vs_size.png", gamma_J_m2, theta_deg))
    scan = orifice_scan(paths)
    if len(scan):
        result["orifice_scan"] = scan.to_dict(orient="records")
        if plots_dir is not None:
            plots.append(plot_orifice_scan(scan, plots_dir / "orifice_scan.png"))
    comps = connected_comparison(paths, tol_eV)
    if comps:
        result["connected"] = [c.as_dict() for c in comps]
        if plots_dir is not None:
            for k, c in enumerate(comps):
                pair = [p for p in paths if path_label(p) in (c.isolated_label, c.connected_label)]
                plots.append(plot_profiles(pair, [path_label(p) for p in pair],
                                           plots_dir / f"connected_{k}.png",
                                           f"pre-nucleation: reduction {c.barrier_reduction_eV}"))
    result["plots"] = [str(p) for p in plots]
    result["caveats"] = sorted({TEST_ONLY_BACKENDS[p.backend.get("name")] for p in paths
                                if p.backend.get("name") in TEST_ONLY_BACKENDS})
    return _clean(result)


def format_report(result: dict[str, Any]) -> str:
    """Human-readable summary table of :func:`analyze`'s result."""
    def f(x, fmt):
        return "-" if x is None else format(x, fmt)

    lines = [f"CAVEAT: {c}" for c in result.get("caveats", [])]
    lines += [f"{'run':<34} {'nucleation':<13} {'barrier eV':>10} {'n*':>3} {'prac Na':>7} "
             f"{'theo Na':>7} {'prac mAh/g':>10} {'theo mAh/g':>10}"]
    for r in result["paths"]:
        lines.append(
            f"{r['label'][:34]:<34} {r['nucleation']:<13} {f(r['barrier_eV'], '10.3f')} "
            f"{f(r['critical_size'], '>3')} {r['practical_na']:>7} {f(r['theoretical_na'], '>7')} "
            f"{f(r['practical_mAh_g'], '10.1f')} {f(r['theoretical_mAh_g'], '10.1f')}"
        )
    if result["paths"]:
        lines.append(f"mAh/g with {result['paths'][0]['assumption']}")
    bvs = result.get("barrier_vs_size")
    if bvs and bvs.get("fit"):
        fit = bvs["fit"]
        lines.append(f"barrier = a d^2: a = {fit['a_eV_nm2']:.4f} +- {fit['a_stderr']:.4f} eV/nm^2, "
                     f"R^2 = {fit['r2']:.3f} ({fit['n_points']} cavities)")
    for c in result.get("connected", []):
        lines.append(f"connected {c['connected_label']}: barrier {c['connected_barrier_eV']} eV vs "
                     f"{c['isolated_barrier_eV']} eV alone; reduction {c['barrier_reduction_eV']}")
    if result.get("orifice_scan"):
        fav = sorted({r["spacing_nm"] for r in result["orifice_scan"] if r["favourable"] and r["n_na"] == 1})
        lines.append(f"orifices: one Na favourable (H < 0) at spacings {fav} nm")
    for p in result["plots"]:
        lines.append(f"wrote {p}")
    return "\n".join(lines)
