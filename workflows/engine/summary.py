"""When a fill stops and what it found: :func:`stop_reason`, :func:`finish` and the headline
numbers of a (partial) path, :func:`summarize` (shared by the step, the loop and the run store)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nafill.analysis.profile import (
    SHARP_RISE_V,
    nucleation_barrier,
    strict_practical_capacity,
    study_practical_capacity,
)
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.engine.ladder import CostMeter
from nafill.workflows.engine.policy import FillingPolicy


def finish(path: FillingPath, reason: str) -> None:
    """Mark ``path`` finished with ``reason`` (e.g. the pore is full) and refresh its summary."""
    path.state["finished"] = True
    path.state["stop_reason"] = reason
    path.summary = summarize(path)


def stop_reason(path: FillingPath) -> str | None:
    """Why the fill should stop after its last step (None: go on)."""
    policy = FillingPolicy.from_dict(path.policy)
    n = len(path.steps)
    if policy.max_na is not None and n >= policy.max_na:
        return f"reached max_na = {policy.max_na}"
    if policy.stop_rise_eV is not None:
        h = np.array([0.0] + [s["formation_enthalpy_eV"] for s in path.steps])
        run_min = np.minimum.accumulate(h)
        above = h - run_min > policy.stop_rise_eV
        if n >= policy.stop_patience and above[-policy.stop_patience :].all():
            return (
                f"H stayed more than {policy.stop_rise_eV} eV above its running minimum for "
                f"{policy.stop_patience} steps"
            )
    if policy.stop_sharp_rise_V is not None:
        h = [s["formation_enthalpy_eV"] for s in path.steps]
        cap = study_practical_capacity(h, [s["n_na"] for s in path.steps], policy.stop_sharp_rise_V)
        if cap.nucleated and not cap.at_least and path.steps[-1]["n_na"] >= cap.na + 1 + policy.stop_margin:
            return (f"practical limit reached: {cap.reason} (sharp rise > {policy.stop_sharp_rise_V:g} V), "
                    f"then {policy.stop_margin} more step(s)")
    return None


def run_cost(path: FillingPath) -> dict[str, dict[str, float]]:
    """Evaluations, relaxations, single points and wall time (s) of the whole run, per backend."""
    meter = CostMeter()
    for s in path.steps:
        meter.merge(s.get("cost") or {})
    return meter.as_dict()


def evaluations_per_na(path: FillingPath) -> float | None:
    """Energy+force evaluations of the fill's own backend per Na added (the unit users pay)."""
    if not path.steps:
        return None
    own = run_cost(path).get(path.backend.get("name", ""), {})
    return float(own.get("evaluations", 0)) / len(path.steps)


def summarize(path: FillingPath) -> dict[str, Any]:
    """Headline numbers of a (partial) path: barrier, critical size, capacities."""
    if not path.steps:
        return {"n_steps": 0}
    n = [s["n_na"] for s in path.steps]
    h = [s["formation_enthalpy_eV"] for s in path.steps]
    nuc = nucleation_barrier(h, n)
    policy = path.policy or {}
    cap = policy.get("max_na")
    strict = strict_practical_capacity(h, n, cap)
    study = study_practical_capacity(h, n, policy.get("stop_sharp_rise_V") or SHARP_RISE_V, cap=cap,
                                     finished_reason=path.state.get("stop_reason"))
    return {
        "n_steps": len(path.steps),
        "n_na_final": n[-1],
        "formation_enthalpy_final_eV": h[-1],
        "formation_enthalpy_min_eV": float(min(h)),
        "nucleation": nuc.as_dict(),
        "nucleation_barrier_eV": nuc.barrier_eV,
        "critical_size": nuc.critical_size,
        "practical_capacity_na": strict.na,
        "practical_capacity": strict.as_dict(),
        "practical_capacity_study_na": study.na,
        "practical_capacity_study": study.as_dict(),
        "theoretical_capacity_na": path.reference.get("theoretical_capacity_na"),
        "n_relaxations": int(sum(s["n_relaxed"] for s in path.steps)),
        "cost": run_cost(path),
        "evaluations_per_na": evaluations_per_na(path),
        "elapsed_s": float(sum(s.get("elapsed_s") or s["wall_s"] for s in path.steps)),
        "wall_s": float(sum(s["wall_s"] for s in path.steps)),
        "finished": bool(path.state.get("finished")),
        "stop_reason": path.state.get("stop_reason"),
    }

