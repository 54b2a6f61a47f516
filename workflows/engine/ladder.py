"""The fidelity ladder: a cheap backend searches, the expensive one relaxes only what decides the path.

* :func:`default_screen` picks the cheap level of a fill's backend (``vasp`` -> ``mlip`` when
  installed, else ``surrogate``; ``mlip`` -> ``surrogate``; ``surrogate``, ``emt`` and any other
  ASE calculator: none, a single-fidelity search).
* :class:`CostMeter` counts what costs, per backend: energy+force evaluations (ionic steps; a
  single point is one), relaxations, single points and wall time.
* :class:`Correction` is the run-learned map from cheap to expensive energies,
  ``E_exp - E_exp(host) ~ a + b (E_cheap - E_cheap(host)) + c x``, refitted before every step on
  every pair the run has relaxed with both levels (ridge towards a = 0, b = 1, c = 0, so that a
  few pairs cannot swing it).
* :func:`diverse_order` orders the cheap minima for the expensive level: the lowest, then the
  lowest of each other motif (cluster sizes, close adatom pairs) within ``screen_diversity_eV``,
  then the rest.
* :func:`extend_plan` is the adaptive rule: after the expensive relaxations of a step, take one
  more cheap-ranked candidate when the expensive ranking disagrees with the cheap one, when the
  run-learned prediction of the best missed its expensive energy by more than
  ``screen_margin_eV`` (the cheap level is off in this region of the fill), or when the next
  candidate's predicted expensive energy lies within ``screen_margin_eV`` of the best found, up
  to ``screen_max`` expensive relaxations per step.

  Measured (``benchmarks/ladder.py``, mlip under the surrogate, 1.19 nm to 8 Na) with the first
  rule (1 to 3 expensive relaxations, no miss test, 4 cheap candidates, perturbations to 6 Na):
  19 mlip evaluations per Na, but the path ran +0.28 eV above the naive search at x = 8, where
  the correction trusted one relaxation; at 1.82 nm from x = 8 on, one relaxation per step whose
  corrected prediction missed by 0.2 to 0.5 eV. Hence the miss test, two relaxations to start
  with, and a wider cheap pool (``screen_pool``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nafill.workflows.backends.mlip import mlip_available
from nafill.workflows.engine.documents import RelaxResult

AUTO = "auto"
NO_SCREEN = ("none", "off", "")


def default_screen(backend_name: str) -> str | None:
    """The cheap level that screens ``backend_name`` by default (None: no screening)."""
    name = str(backend_name).lower()
    if name == "vasp":
        return "mlip" if mlip_available() else "surrogate"
    if name == "mlip":
        return "surrogate"
    return None


def resolve_screen(value: str | None, backend_name: str | None) -> str | None:
    """``auto`` -> :func:`default_screen`; ``none`` -> None; a name stays (unless it is the fill's
    own backend, which would screen nothing)."""
    if value is None or str(value).lower() in NO_SCREEN:
        return None
    if str(value).lower() == AUTO:
        return AUTO if backend_name is None else default_screen(backend_name)
    if backend_name is not None and str(value).lower() == str(backend_name).lower():
        return None
    return str(value)


def evaluations(result: RelaxResult) -> int:
    """Energy+force evaluations a result cost (ionic steps; a single point is one)."""
    if result.n_evaluations:
        return int(result.n_evaluations)
    return max(int(result.n_ionic_steps), 1) if result.ok else 0


class CostMeter:
    """Evaluations, relaxations, single points and wall time (s), per backend name."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, dict[str, float]] = {k: dict(v) for k, v in (data or {}).items()}

    def add(self, backend: str, result: RelaxResult, single_point: bool = False) -> None:
        d = self.data.setdefault(backend, {"evaluations": 0, "relaxations": 0, "single_points": 0, "wall_s": 0.0})
        d["evaluations"] += evaluations(result)
        d["single_points" if single_point else "relaxations"] += 1
        d["wall_s"] += float(result.wall_s)

    def add_calls(self, backend: str, evaluations: int, wall_s: float) -> None:
        """``evaluations`` energy+force calls outside a relaxation (finite differences), counted as
        that many single points."""
        d = self.data.setdefault(backend, {"evaluations": 0, "relaxations": 0, "single_points": 0, "wall_s": 0.0})
        d["evaluations"] += int(evaluations)
        d["single_points"] += int(evaluations)
        d["wall_s"] += float(wall_s)

    def merge(self, other: dict[str, Any]) -> CostMeter:
        for name, d in (other or {}).items():
            mine = self.data.setdefault(name, {"evaluations": 0, "relaxations": 0, "single_points": 0, "wall_s": 0.0})
            for k, v in d.items():
                mine[k] = mine.get(k, 0) + v
        return self

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {k: {kk: (round(vv, 6) if isinstance(vv, float) else int(vv)) for kk, vv in v.items()}
                for k, v in sorted(self.data.items())}


@dataclass
class Correction:
    """``E_exp_rel ~ a + b E_cheap_rel + c x`` (eV), fitted on the run's pairs."""

    a: float = 0.0
    b: float = 1.0
    c: float = 0.0
    n_pairs: int = 0

    def predict(self, cheap_rel_eV: float, n_na: int) -> float:
        return self.a + self.b * cheap_rel_eV + self.c * n_na

    def as_dict(self) -> dict[str, float]:
        return {"a_eV": self.a, "b": self.b, "c_eV_per_na": self.c, "n_pairs": self.n_pairs}

    @classmethod
    def fit(cls, pairs: list[list[float]], ridge: float = 0.05) -> Correction:
        """Ridge least squares on ``[x, cheap_rel, expensive_rel]`` rows, towards (0, 1, 0)."""
        if not pairs:
            return cls()
        P = np.asarray(pairs, float)
        x, c, e = P[:, 0], P[:, 1], P[:, 2]
        if len(P) < 3:
            return cls(float(np.mean(e - c)), 1.0, 0.0, len(P))
        A = np.column_stack([np.ones_like(c), c, x])
        y = e - c  # fit the residual of the identity map, so the ridge pulls towards b = 1
        lam = ridge * len(P) * np.diag([0.0, 1.0, 1.0])
        coef = np.linalg.solve(A.T @ A + lam, A.T @ y)
        return cls(float(coef[0]), float(1.0 + coef[1]), float(coef[2]), len(P))


def diverse_order(energies: list[float], signatures: list[tuple[int, ...]], window_eV: float) -> list[int]:
    """Order of candidates for the expensive level: the lowest energy first, then the lowest of
    each other signature within ``window_eV`` of it (in energy order), then the rest by energy."""
    order = sorted(range(len(energies)), key=lambda k: energies[k])
    if not order or window_eV <= 0:
        return order
    e0 = energies[order[0]]
    first, seen = [order[0]], {signatures[order[0]]}
    for k in order[1:]:
        if energies[k] - e0 <= window_eV and signatures[k] not in seen:
            first.append(k)
            seen.add(signatures[k])
    return first + [k for k in order if k not in first]


def extend_plan(plan, results: list[RelaxResult], kept_ok: list[bool], policy, correction: Correction | None,
                e_host_cheap_eV: float, e_host_eV: float) -> list[int]:
    """Move the next reserve candidate into ``plan.candidates`` when the step needs it.

    Args:
        plan: the step's :class:`~nafill.workflows.engine.steps.StepPlan` (its ``reserve`` holds
            the cheap-ranked candidates not yet relaxed with the expensive backend).
        results: the expensive results so far, aligned with ``plan.candidates``.
        kept_ok: whether each result may be kept (relaxed and still inside the pore).
        correction: the run-learned correction (None: raw cheap energy differences).

    Returns:
        Indices (into ``plan.candidates``) of the candidates added (empty: the step is decided).
    """
    if not plan.reserve or len(plan.candidates) >= policy.screen_max:
        return []
    ok = [k for k, good in enumerate(kept_ok) if good]
    cheap = [c.prescreen_energy_eV for c in plan.candidates]
    reason = None
    if not ok:
        reason = "every expensive relaxation so far failed"
    else:
        k_best = min(ok, key=lambda k: results[k].energy_eV)
        e_best = results[k_best].energy_eV
        miss = None if correction is None else (
            e_host_eV + correction.predict(cheap[k_best] - e_host_cheap_eV, plan.n_na) - e_best)
        if k_best != min(ok, key=lambda k: cheap[k]):
            reason = "the expensive ranking disagrees with the cheap one"
        elif miss is not None and abs(miss) > policy.screen_margin_eV:
            reason = (f"the corrected cheap energy missed the best by {miss:+.3f} eV, more than the "
                      f"{policy.screen_margin_eV} eV margin: the cheap level is not trusted here")
        else:
            nxt = plan.reserve[0].prescreen_energy_eV
            if correction is not None:
                pred = e_host_eV + correction.predict(nxt - e_host_cheap_eV, plan.n_na)
            else:
                pred = e_best + (nxt - cheap[k_best])
            if pred < e_best + policy.screen_margin_eV:
                reason = (f"the next cheap candidate is predicted {pred - e_best:+.3f} eV from the best, "
                          f"within the {policy.screen_margin_eV} eV margin")
    if reason is None:
        return []
    plan.candidates.append(plan.reserve.pop(0))
    plan.screen.setdefault("added", []).append(reason)
    return [len(plan.candidates) - 1]
