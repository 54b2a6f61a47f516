"""Analyses across paths: summary table, barrier against cavity size, orifice scans, connected pores.

Every function takes :class:`~nafill.workflows.engine.documents.FillingPath` documents (from
:func:`load_paths`: ``path.json`` files, run folders, or documents from the FireWorks results
collection) and returns pandas DataFrames / plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nafill.analysis.capacity import capacity_report
from nafill.analysis.nucleation import SquareFit, fit_barrier_vs_size
from nafill.analysis.profile import nucleation_barrier
from nafill.structures.geometry import wall_spacings_A
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.engine.store import load_path


def load_paths(sources: Iterable) -> list:
    """Path documents from run folders, ``path.json`` files, dicts or FillingPath objects."""
    out = []
    for s in sources:
        if isinstance(s, FillingPath):
            out.append(s)
        elif isinstance(s, dict):
            out.append(FillingPath.from_dict(s))
        else:
            out.append(load_path(s))
    return out


def pore_kind(path) -> str:
    return str(path.host.get("info", {}).get("pore_kind", "pore"))


def pore_sizes_nm(path) -> list[float]:
    """Spacing(s) of the pore in nm: one for a bilayer, one per section for a connected pore."""
    info = path.host.get("info", {})
    if info.get("section_spacings_nm"):
        return [float(x) for x in str(info["section_spacings_nm"]).split(",")]
    if "spacing_nm" in info:
        return [float(info["spacing_nm"])]
    return [float(s) / 10 for s in wall_spacings_A(path.host_atoms())]


def path_label(path) -> str:
    sizes = "+".join(f"{s:g}" for s in pore_sizes_nm(path))
    return f"{pore_kind(path)} {sizes} nm ({path.backend.get('name')})"


def summary_table(paths, tol_eV: float = 0.05, mass_convention: str = "all-carbon",
                  valence: float | None = None) -> pd.DataFrame:
    """One row per path: barrier, critical size, capacities (Na and mAh/g) and the assumption."""
    rows = []
    for p in paths:
        h = [s["formation_enthalpy_eV"] for s in p.steps]
        n = [s["n_na"] for s in p.steps]
        nuc = nucleation_barrier(h, n, tol_eV)
        cap = capacity_report(p, mass_convention, valence)
        rows.append({
            "label": path_label(p),
            "kind": pore_kind(p),
            "size_nm": max(pore_sizes_nm(p)),
            "n_steps": len(p.steps),
            "nucleation": nuc.status,
            "barrier_eV": nuc.barrier_eV,
            "critical_size": nuc.critical_size,
            "H_min_eV": float(min(h)) if h else None,
            "practical_na": cap.practical_na,
            "theoretical_na": cap.theoretical_na,
            "practical_mAh_g": cap.practical_mAh_g,
            "theoretical_mAh_g": cap.theoretical_mAh_g,
            "assumption": cap.assumption,
        })
    return pd.DataFrame(rows)


def barrier_vs_size(paths, tol_eV: float = 0.05, with_offset: bool = False) -> tuple[pd.DataFrame, SquareFit | None]:
    """Barrier of each cavity path against its size d (nm) and the fit barrier = a d^2 (+ b).

    Paths without a barrier (barrierless, or never nucleating) are listed but not fitted.
    Returns ``(table, fit)``; ``fit`` is None when too few paths have a barrier.
    """
    table = summary_table(paths, tol_eV)
    table = table[table["kind"].isin(["cavity", "bilayer"])].sort_values("size_nm").reset_index(drop=True)
    has = table["barrier_eV"].notna() & (table["nucleation"] == "barrier")
    fit = None
    need = 3 if with_offset else 1
    if has.sum() >= need:
        fit = fit_barrier_vs_size(table.loc[has, "size_nm"], table.loc[has, "barrier_eV"], with_offset)
    return table, fit


def orifice_scan(paths) -> pd.DataFrame:
    """Orifice paths against spacing: H per Na and step voltages, and where intercalation is favourable.

    Columns: ``spacing_nm``, ``n_na``, ``H_eV``, ``H_per_na_eV``, ``step_voltage_V``,
    ``favourable`` (H < 0: storage at positive potential).
    """
    rows = []
    for p in paths:
        if pore_kind(p) != "orifice":
            continue
        s = pore_sizes_nm(p)[0]
        for st in p.steps:
            h = st["formation_enthalpy_eV"]
            rows.append({"spacing_nm": s, "n_na": st["n_na"], "H_eV": h, "H_per_na_eV": h / st["n_na"],
                         "step_voltage_V": st["step_voltage_V"], "favourable": h < 0})
    return pd.DataFrame(rows).sort_values(["spacing_nm", "n_na"]).reset_index(drop=True) if rows else pd.DataFrame(
        columns=["spacing_nm", "n_na", "H_eV", "H_per_na_eV", "step_voltage_V", "favourable"])


@dataclass
class ConnectedComparison:
    """The same cavity alone and joined to narrower parts: barriers and the reduction."""

    cavity_nm: float
    isolated_label: str
    connected_label: str
    isolated_barrier_eV: float | None
    connected_barrier_eV: float | None
    barrier_reduction_eV: float | None
    isolated_status: str
    connected_status: str

    def as_dict(self) -> dict:
        return asdict(self)


def connected_comparison(paths, tol_eV: float = 0.05) -> list[ConnectedComparison]:
    """Pair every connected pore with the isolated cavity of its widest section size.

    The barrier reduction is ``isolated - connected``; a path without a barrier counts as 0 eV
    (barrierless) or is reported as None (never nucleated).
    """
    def barrier(p):
        h = [s["formation_enthalpy_eV"] for s in p.steps]
        nuc = nucleation_barrier(h, [s["n_na"] for s in p.steps], tol_eV)
        value = 0.0 if nuc.status == "barrierless" else nuc.barrier_eV
        return value, nuc.status

    isolated = {round(max(pore_sizes_nm(p)), 3): p for p in paths if pore_kind(p) in ("cavity", "bilayer")}
    out = []
    for p in paths:
        if pore_kind(p) != "connected":
            continue
        d = round(max(pore_sizes_nm(p)), 3)
        iso = isolated.get(d)
        if iso is None:
            continue
        bi, si = barrier(iso)
        bc, sc = barrier(p)
        red = None if bi is None or bc is None else bi - bc
        out.append(ConnectedComparison(d, path_label(iso), path_label(p), bi, bc, red, si, sc))
    return out


def average_voltage_V(path) -> np.ndarray:
    """Average voltage -H(x)/x (V) along a path."""
    return np.array([-s["formation_enthalpy_eV"] / s["n_na"] for s in path.steps])
