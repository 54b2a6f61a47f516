"""Plots (matplotlib, Agg backend): every axis carries its unit."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_path(path, out_png) -> Path:
    """Profile plot of a :class:`~nafill.workflows.documents.FillingPath`."""
    steps = path.steps
    host = path.host.get("info", {})
    title = f"{host.get('pore_kind', 'pore')} {host.get('spacing_nm', '')} nm, {path.backend.get('name')}"
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
