"""Plots (matplotlib, Agg backend): every axis carries its unit."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nafill.analysis.nucleation import confined_barrier_eV
from nafill.constants import TEST_ONLY_BACKENDS


def _save(fig, out_png) -> Path:
    """Write ``fig`` as a 120-dpi PNG (creating the folder) and close it."""
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_profile(
    n_na,
    h_eV,
    v_V,
    out_png,
    title: str = "",
    barrier: tuple[int, float] | None = None,
    practical: int | None = None,
) -> Path:
    """Formation enthalpy H (eV) and step voltage V (V) against the Na count, two panels.

    ``barrier`` = (critical size, barrier eV) is marked; ``practical`` draws the practical capacity.
    """
    n = np.concatenate([[0], np.asarray(n_na, int)])
    h = np.concatenate([[0.0], np.asarray(h_eV, float)])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6.4, 6.4), sharex=True, constrained_layout=True)
    ax1.plot(n, h, "o-", color="tab:blue", ms=4)
    ax1.axhline(0.0, color="0.6", lw=0.8)
    if barrier is not None and barrier[0] is not None:
        ax1.plot([barrier[0]], [barrier[1]], "v", color="tab:red", ms=9,
                 label=f"barrier {barrier[1]:.2f} eV at n* = {barrier[0]}")
        ax1.legend(loc="best", fontsize=8)
    if practical:
        ax1.axvline(practical, color="tab:green", ls="--", lw=1)
        ax2.axvline(practical, color="tab:green", ls="--", lw=1, label=f"practical capacity {practical} Na")
        ax2.legend(loc="best", fontsize=8)
    ax1.set_ylabel("formation enthalpy H (eV)")
    ax1.set_title(title)
    ax2.bar(np.asarray(n_na, int), np.asarray(v_V, float), color="tab:orange", width=0.7)
    ax2.axhline(0.0, color="0.4", lw=0.8)
    ax2.set_ylabel("step voltage V (V vs Na/Na+)")
    ax2.set_xlabel("number of Na in the pore, x")
    return _save(fig, out_png)


def plot_path(path, out_png) -> Path:
    """Profile plot of a :class:`~nafill.workflows.engine.documents.FillingPath`."""
    steps = path.steps
    host = path.host.get("info", {})
    title = f"{host.get('pore_kind', 'pore')} {host.get('spacing_nm', '')} nm, {path.backend.get('name')}"
    if path.backend.get("name") in TEST_ONLY_BACKENDS:
        title += "\n(workflow-test surrogate, not physics)"
    nuc = path.summary.get("nucleation") or {}
    barrier = None
    if nuc.get("critical_size") is not None:
        barrier = (nuc["critical_size"], nuc["barrier_eV"])
    return plot_profile(
        [s["n_na"] for s in steps],
        [s["formation_enthalpy_eV"] for s in steps],
        [s["step_voltage_V"] for s in steps],
        out_png,
        title=title.strip(),
        barrier=barrier,
        practical=path.summary.get("practical_capacity_na"),
    )


def plot_barrier_vs_size(table, fit, out_png, gamma_J_m2: float | None = None,
                         theta_deg: float | None = None) -> Path:
    """Barrier (eV) against cavity size d (nm): simulated points, the d^2 fit, and optionally the
    classical confined barrier pi gamma (2 + cos theta) d^2 / 12 for comparison."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2), constrained_layout=True)
    has = table["barrier_eV"].notna()
    ax.plot(table.loc[has, "size_nm"], table.loc[has, "barrier_eV"], "o", color="tab:blue",
            label="simulated barrier")
    d = np.linspace(0.0, max(float(table["size_nm"].max()) * 1.1, 0.5), 200)
    if fit is not None:
        lbl = f"fit a d^2{' + b' if fit.with_offset else ''}: a = {fit.a_eV_nm2:.3f} eV/nm^2, R^2 = {fit.r2:.3f}"
        ax.plot(d, fit.predict(d), "-", color="tab:blue", alpha=0.7, label=lbl)
    if gamma_J_m2 is not None and theta_deg is not None:
        ax.plot(d, confined_barrier_eV(d, gamma_J_m2, theta_deg), "--", color="tab:red",
                label=f"classical confined, gamma = {gamma_J_m2} J/m^2, theta = {theta_deg} deg")
    ax.set_xlabel("cavity size d (nm)")
    ax.set_ylabel("nucleation barrier (eV)")
    ax.legend(fontsize=8)
    return _save(fig, out_png)


def plot_orifice_scan(scan, out_png) -> Path:
    """H per Na (eV) and first-step voltage (V) against orifice spacing (nm); H < 0 shaded."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.8), constrained_layout=True)
    for n, grp in scan.groupby("n_na"):
        ax1.plot(grp["spacing_nm"], grp["H_per_na_eV"], "o-", ms=4, label=f"x = {n}")
        ax2.plot(grp["spacing_nm"], grp["step_voltage_V"], "o-", ms=4, label=f"x = {n}")
    ax1.axhspan(min(float(scan["H_per_na_eV"].min()), 0) - 0.05, 0, color="tab:green", alpha=0.1,
                label="favourable (H < 0)")
    ax1.axhline(0, color="0.5", lw=0.8)
    ax2.axhline(0, color="0.5", lw=0.8)
    ax1.set_xlabel("orifice spacing (nm)")
    ax1.set_ylabel("H per Na (eV)")
    ax2.set_xlabel("orifice spacing (nm)")
    ax2.set_ylabel("step voltage (V vs Na/Na+)")
    ax1.legend(fontsize=7)
    return _save(fig, out_png)


def plot_profiles(paths, labels, out_png, title: str = "") -> Path:
    """Several H(x) profiles side by side on one axis (e.g. a cavity alone and connected)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for p, lbl in zip(paths, labels):
        n = [0] + [s["n_na"] for s in p.steps]
        h = [0.0] + [s["formation_enthalpy_eV"] for s in p.steps]
        ax.plot(n, h, "o-", ms=3, label=lbl)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("number of Na, x")
    ax.set_ylabel("formation enthalpy H (eV)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, out_png)


def plot_free_energy(profile, out_png, temperature_K: float | None = None) -> Path:
    """H(x) and G(x, T) (eV) against the Na count for one temperature (default the highest)."""
    temps = list(profile.temperatures_K)
    t = temperature_K if temperature_K in temps else max(temps)
    j = temps.index(t)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = [0] + list(profile.n_na)
    ax.plot(x, [0.0] + list(profile.formation_enthalpy_eV), "o-", ms=4, label="H(x)")
    ax.plot(x, [0.0] + [g[j] for g in profile.gibbs_eV], "s--", ms=4, label=f"G(x, {t:g} K)")
    for n in profile.imaginary:
        ax.axvline(n, color="tab:red", alpha=0.3, lw=6)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("number of Na, x")
    ax.set_ylabel("energy (eV)")
    title = "harmonic free energy, host frozen"
    if profile.imaginary:
        title += f" (imaginary modes at x = {sorted(profile.imaginary)})"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, out_png)


def plot_neb_barriers(table, results, out_png) -> Path:
    """NEB barrier (eV) against orifice spacing (nm), and the energy profiles along the hops."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.8), constrained_layout=True)
    ax1.plot(table["spacing_nm"], table["barrier_eV"], "o-")
    ax1.set_xlabel("orifice spacing (nm)")
    ax1.set_ylabel("Na hop barrier (eV)")
    for r in results:
        ax2.plot(np.linspace(0, 1, len(r.energies_eV)), r.energies_eV, "o-", ms=3, label=f"{r.spacing_nm:g} nm")
    ax2.set_xlabel("reaction coordinate (fraction of the hop)")
    ax2.set_ylabel("energy relative to the start (eV)")
    ax2.legend(fontsize=8)
    return _save(fig, out_png)
