"""One filling step, the logic every engine shares (local loop, notebooks, FireWorks tasks).

For every structure kept in the beam:

1. :func:`plan_step` proposes candidate sites (:func:`nafill.structures.sites.candidate_sites`),
   caps them at ``n_candidates`` (a seeded subset), optionally pre-screens them with single points
   and keeps the best ``prescreen`` for relaxation;
2. the candidates are relaxed *somewhere* (in this process, a process pool, or FireWorks), with
   the host frozen;
3. :func:`complete_step` rejects failed relaxations and any structure in which a Na left the pore
   or came closer than 2 A to a host atom, keeps the ``beam_width`` lowest energies and records
   the step;
4. :func:`analyse_kept_step` gives the kept structure, and only it, the backend's extra analysis
   (VASP: one static run with charge files and the Na Bader valence; nothing for the others).

The loop around it is :mod:`nafill.workflows.engine.loop`; FireWorks calls :func:`plan_step` /
:func:`complete_step` directly (:mod:`nafill.workflows.fireworks.tasks`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms

from nafill.constants import MIN_NA_C_DISTANCE_A
from nafill.errors import NafillRunError
from nafill.io import atoms_from_dict, atoms_to_dict
from nafill.structures.geometry import between_walls, guest_indices, host_indices, min_distances
from nafill.structures.sites import add_guest, candidate_sites
from nafill.workflows.backends.base import Backend
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.documents import FillingPath, RelaxResult, StepRecord
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.summary import stop_reason, summarize


class PoreFullError(NafillRunError):
    """No candidate site is left for the next Na: the fill ends there (a normal stop)."""


ENERGY_DEDUP_EV = 1e-6
"""Beam members closer than this in energy are taken to be the same structure."""


# ----------------------------------------------------------------------------- plan
@dataclass
class CandidatePlan:
    """One candidate to relax: the structure with the new Na, where it came from."""

    parent_rank: int
    site_A: list[float]
    site_kind: str
    structure: dict[str, Any]
    prescreen_energy_eV: float | None = None

    def atoms(self) -> Atoms:
        return atoms_from_dict(self.structure)


@dataclass
class StepPlan:
    """Everything a step needs before relaxation (JSON-safe, so FireWorks can carry it)."""

    n_na: int
    candidates: list[CandidatePlan]
    n_candidates: int
    n_proposed: int
    n_merged: int
    prescreen_energies_eV: list[float]
    wall_s: float
    n_considered: int = 0
    """Candidates considered (after the cap) before pre-screening or screening."""
    n_screened: int = 0
    """Cheap-backend relaxations of the multi-fidelity screening."""
    n_after_screen: int = 0
    """Candidates the screening passed on to the fill's backend."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepPlan:
        d = dict(d)
        d["candidates"] = [CandidatePlan(**c) for c in d["candidates"]]
        return cls(**d)


def step_seed(seed: int, n_na: int, parent_rank: int) -> int:
    """Deterministic seed of one step of one beam member."""
    return int(np.random.SeedSequence([seed, n_na, parent_rank]).generate_state(1)[0])


def plan_step(path: FillingPath, backend: Backend | None = None) -> StepPlan:
    """Propose, cap and (optionally) pre-screen the candidates of the next step of ``path``."""
    t0 = time.perf_counter()
    policy = FillingPolicy.from_dict(path.policy)
    beam = path.state["beam"]
    n_na = len(path.steps) + 1
    plans: list[CandidatePlan] = []
    n_distinct = n_proposed = n_merged = 0
    for rank, member in enumerate(beam):
        atoms = atoms_from_dict(member["structure"])
        seed = step_seed(policy.seed, n_na, rank)
        sites = candidate_sites(
            atoms,
            height_A=policy.site_height_A,
            min_host_distance_A=policy.min_host_distance_A,
            min_na_distance_A=policy.min_na_distance_A,
            n_directions=policy.n_directions,
            seed=seed,
        )
        n_distinct += len(sites)
        n_proposed += sites.n_proposed
        n_merged += sites.n_duplicates + sites.n_symmetry_merged
        order = np.arange(len(sites))
        if len(order) > policy.n_candidates:
            rng = np.random.default_rng(seed)
            order = np.sort(rng.choice(order, policy.n_candidates, replace=False))
        for k in order:
            cand = add_guest(atoms, sites.positions[k])
            plans.append(
                CandidatePlan(rank, [float(x) for x in sites.positions[k]], sites.kinds[k], atoms_to_dict(cand))
            )
    if not plans:
        raise PoreFullError(
            f"no candidate site left for Na number {n_na}: the pore is full for the site rules "
            f"(min_host_distance_A = {policy.min_host_distance_A}, min_na_distance_A = {policy.min_na_distance_A})"
        )
    n_considered = len(plans)
    prescreen: list[float] = []
    n_screened = 0
    n_after_screen = 0
    if policy.screen_calculator is not None:
        plans, prescreen = _screen(plans, policy)
        n_screened = n_considered
        n_after_screen = len(plans)
    elif policy.prescreen is not None and len(plans) > policy.prescreen:
        if backend is None:
            raise ValueError("pre-screening needs a backend")
        # stage 1: single points at the raw sites
        energies = []
        for p in plans:
            r = backend.single_point(p.atoms())
            energies.append(np.inf if not r.ok else r.energy_eV)
        stage = [1] * len(plans)
        # stage 2: the best ``prescreen_pool`` relax the new Na alone (everything else frozen) for
        # up to ``prescreen_steps`` steps, which ranks far better than the raw single points; they
        # rank ahead of every unrelaxed candidate and the kept ones start from there
        if policy.prescreen_steps > 0:
            pool = np.argsort(np.asarray(energies), kind="stable")[: policy.prescreen_pool]
            for k in sorted(pool):
                a = plans[k].atoms()
                r = backend.relax(a, policy.fmax_eV_A, policy.prescreen_steps, fixed=list(range(len(a) - 1)))
                if r.ok:
                    plans[k].structure = r.structure
                    energies[k], stage[k] = r.energy_eV, 0
        for p, e in zip(plans, energies):
            p.prescreen_energy_eV = float(e) if np.isfinite(e) else None
        prescreen = [float(e) for e in energies]
        order = sorted(range(len(plans)), key=lambda k: (stage[k], energies[k]))
        plans = [plans[k] for k in sorted(order[: policy.prescreen])]
    if policy.refine_trials and n_na <= policy.refine_max_na and n_na > 1:
        plans += _perturbed(plans, policy, step_seed(policy.seed, n_na, 10_000))
    return StepPlan(n_na, plans, n_distinct, n_proposed, n_merged, prescreen, time.perf_counter() - t0,
                    n_considered, n_screened, n_after_screen)


def _perturbed(plans: list[CandidatePlan], policy: FillingPolicy, seed: int) -> list[CandidatePlan]:
    """``refine_trials`` copies of the best-ranked candidate with every Na displaced at random."""
    ranked = [p for p in plans if p.prescreen_energy_eV is not None] or plans
    best = min(ranked, key=lambda p: p.prescreen_energy_eV if p.prescreen_energy_eV is not None else 0.0)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(policy.refine_trials):
        a = best.atoms()
        na = guest_indices(a)
        a.positions[na] += rng.normal(0.0, policy.refine_sigma_A, (len(na), 3))
        out.append(CandidatePlan(best.parent_rank, best.site_A, "perturbed", atoms_to_dict(a)))
    return out


def _screen(plans: list[CandidatePlan], policy: FillingPolicy) -> tuple[list[CandidatePlan], list[float]]:
    """Relax every candidate with the cheap backend; keep the best ``screen_keep`` at their cheap
    geometry (the expensive relaxations start from there)."""
    cheap = get_backend(policy.screen_calculator)
    results = cheap.relax_many([p.atoms() for p in plans], policy.fmax_eV_A, policy.max_relax_steps, policy.workers)
    energies = [r.energy_eV if r.ok and check_kept_structure(r.atoms()) is None else np.inf for r in results]
    keep = sorted(np.argsort(np.asarray(energies), kind="stable")[: policy.screen_keep])
    kept = []
    for k in keep:
        if not np.isfinite(energies[k]):
            continue
        p = plans[k]
        kept.append(CandidatePlan(p.parent_rank, p.site_A, p.site_kind, results[k].structure, float(energies[k])))
    if not kept:
        raise NafillRunError(f"the screening backend {policy.screen_calculator!r} failed on every candidate")
    return kept, [float(e) for e in energies]


# ----------------------------------------------------------------------------- complete
def check_kept_structure(atoms: Atoms, min_host_distance_A: float = MIN_NA_C_DISTANCE_A) -> str | None:
    """Why a relaxed structure cannot be kept (a Na outside the pore or too close to the host)."""
    na = guest_indices(atoms)
    if len(na) == 0:
        return None
    pos = atoms.positions[na]
    inside = between_walls(atoms, pos)
    if not inside.all():
        return f"Na {int(na[~inside][0])} left the pore (not between the walls)"
    d = min_distances(atoms, pos, host_indices(atoms))
    if (d < min_host_distance_A).any():
        return f"a Na is {d.min():.2f} A from the host (< {min_host_distance_A} A)"
    return None


def complete_step(
    path: FillingPath, plan: StepPlan, results: list[RelaxResult], wall_s: float | None = None
) -> StepRecord:
    """Select the lowest-energy relaxed candidates, record the step and advance ``path``.

    Raises :class:`NafillRunError` (leaving ``path`` unchanged) if every candidate failed.
    """
    if len(results) != len(plan.candidates):
        raise ValueError(f"{len(results)} results for {len(plan.candidates)} candidates")
    policy = FillingPolicy.from_dict(path.policy)
    ref = path.reference
    failures: list[str] = []
    ok: list[tuple[float, int, int]] = []
    energies: list[float | None] = []
    for k, (cand, res) in enumerate(zip(plan.candidates, results)):
        if not res.ok:
            failures.append(f"candidate {k} ({cand.site_kind}): {res.error}")
            energies.append(None)
            continue
        why = check_kept_structure(res.atoms())
        energies.append(float(res.energy_eV))
        if why:
            failures.append(f"candidate {k} ({cand.site_kind}): {why}")
            continue
        ok.append((float(res.energy_eV), cand.parent_rank, k))
    if not ok:
        raise NafillRunError(
            f"all {len(results)} candidates of step {plan.n_na} failed; the path is kept up to "
            f"{plan.n_na - 1} Na. Failures: " + "; ".join(failures)
        )
    ok.sort()
    chosen: list[tuple[float, int, int]] = []
    for item in ok:
        if all(abs(item[0] - c[0]) > ENERGY_DEDUP_EV for c in chosen):
            chosen.append(item)
        if len(chosen) == policy.beam_width:
            break
    e_best, parent, k_best = chosen[0]
    best = results[k_best]
    e_prev = path.steps[-1]["energy_eV"] if path.steps else ref["e_host_eV"]
    n = plan.n_na
    h = e_best - ref["e_host_eV"] - n * ref["mu_na_eV"]
    v = -(e_best - e_prev - ref["mu_na_eV"])
    corrections = [c for r in results for c in r.corrections]
    record = StepRecord(
        n_na=n,
        energy_eV=e_best,
        formation_enthalpy_eV=float(h),
        step_voltage_V=float(v),
        n_candidates=plan.n_candidates,
        n_relaxed=len(results),
        wall_s=float(plan.wall_s + sum(r.wall_s for r in results) if wall_s is None else wall_s),
        site_A=plan.candidates[k_best].site_A,
        site_kind=plan.candidates[k_best].site_kind,
        n_proposed=plan.n_proposed,
        n_merged=plan.n_merged,
        n_failed=len(failures),
        candidate_energies_eV=energies,
        prescreen_energies_eV=plan.prescreen_energies_eV,
        max_force_eV_A=best.max_force_eV_A,
        converged=best.converged,
        n_ionic_steps=best.n_ionic_steps,
        parent_rank=parent,
        beam_energies_eV=[c[0] for c in chosen],
        failures=failures,
        corrections=corrections,
        na_bader_valence=best.extra.get("na_bader_valence"),
        structure=best.structure,
        n_screened=plan.n_screened,
        n_saved_relaxations=max(plan.n_considered - plan.n_after_screen, 0) if plan.n_screened else 0,
    )
    path.steps.append(record.as_dict())
    path.state["beam"] = [
        {"energy_eV": e, "parent_rank": p, "structure": results[k].structure} for e, p, k in chosen
    ]
    stop = stop_reason(path)
    path.state["finished"] = stop is not None
    path.state["stop_reason"] = stop
    path.summary = summarize(path)
    return record


def analyse_kept_step(path: FillingPath, backend: Backend) -> dict[str, Any]:
    """The backend's analysis of the structure kept at the last step (``Backend.analyse_kept``),
    recorded in that step (``kept_analysis``, and ``na_bader_valence`` when it gives one).

    Called once per step, after the selection, by the local loop and the FireWorks select task.
    Returns the analysis (``{}`` for backends without one: the step is left as it is).
    """
    if not path.steps:
        return {}
    step = path.steps[-1]
    out = backend.analyse_kept(atoms_from_dict(step["structure"]))
    if out:
        step["kept_analysis"] = out
        if out.get("na_bader_valence") is not None:
            step["na_bader_valence"] = out["na_bader_valence"]
    return out

