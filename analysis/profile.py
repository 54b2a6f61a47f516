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
  is stored at positive potential). This is the **strict** reading.
* **Study reading of the practical capacity** (:func:`study_practical_capacity`), the one the
  published study uses ("the Na stored before the formation enthalpy rises sharply"): a *sharp
  rise* is a step whose voltage falls below ``-sharp_rise_V`` (H climbs by more than
  ``sharp_rise_V`` eV for one more Na; default 0.25 V). Rises before nucleation are the nucleation
  barrier, not the end of the capacity, so the scan starts at the nucleation point ``x_f`` (see
  above; at x = 0 when H never falls). The capacity ``x_s`` is the last Na count before the first
  sharp rise at or after that point. If H never fell and the run stopped at its cap, that rise
  may still be a barrier and ``x_s`` is a lower bound. When the path ends without a sharp rise,
  ``x_s`` is the last Na count of the path and is only a lower bound ("at least x_s").
* **Capped values**: a capacity equal to the fill's ``max_na`` cap (or, for the study reading,
  with no sharp rise seen before the path ended) is a lower bound, reported as
  "at least N (run stopped by the cap)" (:func:`format_capacity`), never as the capacity.

Example, the SevenNet-0 profile of the 1.82 nm cavity (H(1..15) = 0.10, 0.21, 0.51, 0.81, 1.25,
1.57, 1.77, 1.93, 1.97, 2.00, 1.89, 1.92, 1.81, 1.74, 1.91 eV): strict reading 0 Na (H > 0
everywhere); nucleation at x_f = 11 after the 2.00 eV maximum at n* = 10; the steps after it
rise by at most 0.17 eV, so the study reading is "at least 15 Na" (the path ends there). A naive
"first sharp rise" without the nucleation rule would stop at 4 Na, on the barrier.
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


SHARP_RISE_V = 0.25
"""Default threshold of the study reading: a step voltage below -0.25 V (H up by > 0.25 eV for one
Na) is a sharp rise."""

STRICT_RULE = "largest x at the global minimum of H, if that minimum is below 0 (else 0)"


def study_rule(sharp_rise_V: float = SHARP_RISE_V, tol_eV: float = 0.05) -> str:
    """The study reading's rule in words (for reports)."""
    return (f"last x before the first sharp rise (a step voltage below -{sharp_rise_V:g} V, i.e. H up by more than "
            f"{sharp_rise_V:g} eV for one Na) at or after nucleation (the first x where H has fallen more than "
            f"{tol_eV:g} eV below its running maximum; from x = 0 if it never falls, then a lower bound when "
            "the run stopped at its cap)")


@dataclass
class PracticalCapacity:
    """A practical capacity with its rule and whether it is only a lower bound."""

    na: int
    at_least: bool
    """True: a lower bound (the run stopped at its cap, or ended before the rule could decide)."""
    rule: str
    reason: str
    """Why this value: the step that rises sharply, or why it is a lower bound."""
    reading: str = "study"
    nucleated: bool = True
    """H fell below its running maximum within the path (False: a rise may still be a barrier)."""

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return format_capacity(self.na, self.at_least, self.reason)


def format_capacity(na: int, at_least: bool, reason: str = "") -> str:
    """``"16 Na"`` or ``"at least 16 Na (run stopped by the cap)"``."""
    if not at_least:
        return f"{na} Na"
    why = "run stopped by the cap" if "cap" in reason or not reason else reason
    return f"at least {na} Na ({why})"


def study_practical_capacity(h_eV, n_na=None, sharp_rise_V: float = SHARP_RISE_V, tol_eV: float = 0.05,
                             cap: int | None = None, finished_reason: str | None = None) -> PracticalCapacity:
    """The study's reading of the practical capacity (see the module definition).

    Args:
        h_eV, n_na: the profile H(x) (eV) at Na counts ``n_na`` (default 1..N).
        sharp_rise_V: a step voltage below ``-sharp_rise_V`` is a sharp rise.
        tol_eV: nucleation tolerance (as :func:`nucleation_barrier`).
        cap: the fill's ``max_na``; a capacity at the cap is a lower bound.
        finished_reason: the fill's stop reason (a pore full for the site rules is not a cap).
    """
    rule = study_rule(sharp_rise_V, tol_eV)
    h = np.asarray(h_eV, float)
    if len(h) == 0:
        return PracticalCapacity(0, True, rule, "no steps yet")
    n = np.arange(1, len(h) + 1) if n_na is None else np.asarray(n_na, int)
    nuc = nucleation_barrier(h, n, tol_eV)
    hh = np.concatenate([[0.0], h])
    nn = np.concatenate([[0], n])
    nucleated = nuc.nucleation_at is not None
    start = int(np.where(nn == nuc.nucleation_at)[0][0]) if nucleated else 0
    last = int(nn[-1])
    for k in range(start, len(hh) - 1):
        rise = hh[k + 1] - hh[k]
        if rise > sharp_rise_V:
            reason = f"H rises by {rise:.2f} eV from {nn[k]} to {nn[k + 1]} Na"
            # never nucleated and stopped by the cap: that rise may be a barrier crossed later
            capped = not nucleated and cap is not None and last >= cap
            if capped:
                reason += f" before any nucleation; run stopped by the cap max_na = {cap}"
            return PracticalCapacity(int(nn[k]), capped, rule, reason, nucleated=nucleated)
    if cap is not None and last >= cap:
        reason = f"run stopped by the cap max_na = {cap}"
    elif finished_reason and "full" in finished_reason:
        return PracticalCapacity(last, False, rule, f"the pore is full at {last} Na ({finished_reason})",
                                 nucleated=nucleated)
    else:
        reason = f"the path ends at {last} Na before any sharp rise"
    return PracticalCapacity(last, True, rule, reason, nucleated=nucleated)


def strict_practical_capacity(h_eV, n_na=None, cap: int | None = None) -> PracticalCapacity:
    """:func:`practical_capacity` as a :class:`PracticalCapacity` (a lower bound at the cap)."""
    x = practical_capacity(h_eV, n_na)
    n = list(np.arange(1, len(h_eV) + 1) if n_na is None else n_na)
    capped = bool(x and cap is not None and x >= cap and n and x == n[-1])
    reason = f"run stopped by the cap max_na = {cap}" if capped else (
        "H > 0 everywhere: nothing stored at positive potential" if x == 0 else "global minimum of H")
    return PracticalCapacity(int(x), capped, STRICT_RULE, reason, "strict")


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
