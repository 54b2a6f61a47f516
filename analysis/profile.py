"""Formation-enthalpy profiles: H(x), step voltages, nucleation barrier, practical capacity.

Definitions (used everywhere in nafill; the engine's summary calls these same functions):

* ``H(x) = E(x) - E(0) - x mu_Na`` (eV), with ``H(0) = 0``.
* Step voltage ``V(x-1 -> x) = -(E(x) - E(x-1) - mu_Na) / e`` (V); average voltage
  ``-H(x) / (x e)``.
* **Nucleation barrier**: scan x upwards keeping the running maximum ``M(x) = max_{x' <= x} H``;
  nucleation happens at the first ``x_f`` where ``H(x_f) < M(x_f - 1) - tol`` (H has fallen by
  more than ``tol``, default 0.05 eV, below the highest value crossed so far). The barrier is
  ``dG* = M(x_f - 1) - H(0)`` and the **critical size** ``n*`` is the Na count at that maximum.
  ``status`` is ``"barrier"`` (n* > 0), ``"barrierless"`` (H falls from the very first Na:
  n* = 0, dG* = 0) or ``"no-nucleation"`` (H never falls by more than tol: barrier and critical
  size undefined, reported as None).
* **Practical capacity**: at electrode potential U the equilibrium filling minimises
  ``H(x) + x e U``; as U -> 0+ (the lowest positive potential) that is the largest ``x`` at which
  H reaches its global minimum over the path, provided that minimum is below 0 (else 0: nothing
  is stored at positive potential).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def formation_enthalpies(energies_eV, e_host_eV: float, mu_na_eV: float, n_na=None) -> np.ndarray:
    """H(x) (eV) for total energies E(x) of structures with ``n_na`` Na (default 1..N)."""
    e = np.asarray(energies_eV, float)
    n = np.arange(1, len(e) + 1) if n_na is None else np.asarray(n_na, float)
    return e - e_host_eV - n * mu_na_eV


def step_voltages(energies_eV, e_host_eV: float, mu_na_eV: float) -> np.ndarray:
    """V(x-1 -> x) (V) for x = 1..N from the energies E(1..N)."""
    e = np.concatenate([[e_host_eV], np.asarray(energies_eV, float)])
    return -(np.diff(e) - mu_na_eV)


@dataclass
class Nucleation:
    """Nucleation barrier (eV) and critical size (Na count) of a profile, with its status."""

    status: str
    barrier_eV: float | None
    critical_size: int | None
    nucleation_at: int | None
    """x_f: the first Na count at which H has fallen by more than tol below the maximum."""
    tol_eV: float

    def as_dict(self) -> dict:
        return asdict(self)


def nucleation_barrier(h_eV, n_na=None, tol_eV: float = 0.05) -> Nucleation:
    """Barrier and critical size of ``H`` (H(0) = 0 is prepended); see the module definition."""
    h = np.concatenate([[0.0], np.asarray(h_eV, float)])
    n = np.concatenate([[0], np.arange(1, len(h)) if n_na is None else np.asarray(n_na, int)])
    run_max, arg = h[0], 0
    for k in range(1, len(h)):
        if h[k] < run_max - tol_eV:
            status = "barrier" if arg > 0 else "barrierless"
            return Nucleation(status, float(run_max - h[0]), int(n[arg]), int(n[k]), tol_eV)
        if h[k] > run_max:
            run_max, arg = h[k], k
    return Nucleation("no-nucleation", None, None, None, tol_eV)


def practical_capacity(h_eV, n_na=None) -> int:
    """Largest Na count at which H reaches its global minimum, if that minimum is < 0; else 0."""
    h = np.asarray(h_eV, float)
    if len(h) == 0:
        return 0
    n = np.arange(1, len(h) + 1) if n_na is None else np.asarray(n_na, int)
    hmin = h.min()
    if hmin >= 0:
        return 0
    return int(n[np.where(h <= hmin + 1e-12)[0].max()])


def profile_dataframe(path):
    """Per-step table of a path as a pandas DataFrame.

    Columns: ``n_na``, ``energy_eV``, ``H_eV`` (formation enthalpy), ``H_per_na_eV``,
    ``step_voltage_V``, ``average_voltage_V`` (-H/x), ``n_candidates``, ``n_relaxed``,
    ``na_bader_valence`` (None without VASP charges).
    """
    import pandas as pd

    rows = []
    for s in path.steps:
        x = s["n_na"]
        h = s["formation_enthalpy_eV"]
        rows.append(
            {
                "n_na": x,
                "energy_eV": s["energy_eV"],
                "H_eV": h,
                "H_per_na_eV": h / x,
                "step_voltage_V": s["step_voltage_V"],
                "average_voltage_V": -h / x,
                "n_candidates": s.get("n_candidates"),
                "n_relaxed": s.get("n_relaxed"),
                "na_bader_valence": s.get("na_bader_valence"),
            }
        )
    return pd.DataFrame(rows)
