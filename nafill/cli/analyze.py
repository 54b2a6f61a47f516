"""``nafill analyze``: barrier, critical size, capacities and figures for one or more runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nafill.analysis.compare import load_paths
from nafill.analysis.report import analyze, format_report
from nafill.cli.options import OUT_DIR
from nafill.errors import check_range


@click.command("analyze")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of the table.")
@click.option("--plots", "plots_dir", type=OUT_DIR, default=None,
              help="Folder for the PNG figures [default: analysis/ inside the first run folder].")
@click.option("--tol-ev", "tol_eV", type=float, default=0.05, show_default=True,
              help="H must fall this much (eV) below its maximum to count as nucleation.")
@click.option("--mass-convention", type=click.Choice(["all-carbon", "one-wall", "host"]),
              default="all-carbon", show_default=True, help="Which host atoms count in mAh/g.")
@click.option("--valence", type=float, default=None,
              help="Na valence (e/Na) for mAh/g [default: average Bader valence, else 1.0, stated].")
@click.option("--gamma-j-m2", "gamma_J_m2", type=float, default=0.2, show_default=True,
              help="Surface energy for the classical confined barrier curve, J/m^2.")
@click.option("--theta-deg", type=float, default=90.0, show_default=True,
              help="Contact angle for the classical confined barrier curve, degrees.")
def analyze_cmd(runs, as_json, plots_dir, tol_eV, mass_convention, valence, gamma_J_m2, theta_deg) -> None:
    """Summarise one or more runs (folders or path.json files): barrier, critical size,
    practical/theoretical capacity in Na and mAh/g; figures for every analysis that applies
    (profiles; barrier against cavity size with its d^2 fit; orifice scan; connected pores)."""
    check_range("tol_ev", tol_eV, 0.0, None, "eV", lo_inclusive=False)
    if valence is not None:
        check_range("valence", valence, 0.0, 1.5, lo_inclusive=False)
    check_range("gamma_j_m2", gamma_J_m2, 0.0, 10.0, "J/m^2", lo_inclusive=False)
    check_range("theta_deg", theta_deg, 0.0, 180.0, "degrees")
    if plots_dir is not None:
        from nafill.workflows.engine.store import check_out_dir

        check_out_dir(plots_dir, "--plots")
    paths = load_paths(runs)
    if plots_dir is None:
        first = Path(runs[0])
        plots_dir = (first if first.is_dir() else first.parent) / "analysis"
    result = analyze(paths, plots_dir, tol_eV, mass_convention, valence, gamma_J_m2, theta_deg)
    click.echo(json.dumps(result, indent=1) if as_json else format_report(result))
