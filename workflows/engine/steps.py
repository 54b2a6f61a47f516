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

import json
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms

from nafill.constants import MIN_NA_C_DISTANCE_A
from nafill.errors import NafillRunError
from nafill.io import atoms_from_dict, atoms_to_dict
from nafill.structures.connected import section_of, section_spacings_nm
from nafill.structures.geometry import between_walls, guest_indices, host_indices, min_distances
from nafill.structures.moves import cluster_signature, coalesce, na_clusters
from nafill.structures.sites import add_guest, candidate_sites
from nafill.workflows.backends.base import Backend
from nafill.workflows.backends.registry import get_backend, searches_every_step, takes_initial_hessian
from nafill.workflows.engine.documents import FillingPath, RelaxResult, StepRecord
from nafill.workflows.engine.hessian import attach, finite_difference_hessian
from nafill.workflows.engine.ladder import Correction, CostMeter, diverse_order, extend_plan, resolve_screen
from nafill.workflows.engine.order import section_state
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.references import references
from nafill.workflows.engine.summary import stop_reason, summarize


class PoreFullError(NafillRunError):
    """No candidate site is left for the next Na: the fill ends there (a normal stop)."""


@dataclass(frozen=True)
class Rejection:
    """Why :func:`check_kept_structure` refuses a relaxed structure: ``expelled`` is True when a
    Na was pushed out from between the walls (all candidates expelled = the pore is full), False
    when a Na sits too close to the host. ``str()`` gives the one-line message."""

    message: str
    expelled: bool

    def __str__(self) -> str:
        return self.message


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
    cost: dict[str, Any] = field(default_factory=dict)
    """Evaluations, relaxations and wall time the planning spent, per backend."""
    reserve: list[CandidatePlan] = field(default_factory=list)
    """Cheap-ranked candidates the ladder may still send to the expensive backend, best first."""
    screen: dict[str, Any] = field(default_factory=dict)
    """Ladder bookkeeping: cheap backend, its host energy, why candidates were added."""
    fill_order: dict[str, Any] | None = None
    """Narrow-first fills of connected pores: the open section and why the narrower ones are
    closed (:class:`nafill.workflows.engine.order.SectionState`); None otherwise."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepPlan:
        d = dict(d)
        d["candidates"] = [CandidatePlan(**c) for c in d["candidates"]]
        d["reserve"] = [CandidatePlan(**c) for c in d.get("reserve", [])]
        return cls(**d)


def step_seed(seed: int, n_na: int, parent_rank: int) -> int:
    """Deterministic seed of one step of one beam member."""
    return int(np.random.SeedSequence([seed, n_na, parent_rank]).generate_state(1)[0])


def cheap_backend(name: str, options: dict[str, Any] | None = None) -> Backend:
    """The ladder's cheap backend with ``options`` (the policy's ``screen_options``), built once per
    process for each name and options (mlip would reload its model every step)."""
    return _cheap_backend(name, json.dumps(options or {}, sort_keys=True))


@lru_cache(maxsize=4)
def _cheap_backend(name: str, options_json: str) -> Backend:
    return get_backend(name, **json.loads(options_json))


def plan_step(path: FillingPath, backend: Backend | None = None) -> StepPlan:
    """Propose, cap, pre-screen and (with a fidelity ladder) rank the candidates of the next step.

    Without a screen, the pre-screen (single points, short relaxations) runs on ``backend``, the
    fill's own. With one (``policy.screen_calculator``), every calculation here runs on the cheap
    backend: the pre-screen, the perturbation moves and full relaxations of what survives; the
    plan then holds the best ``screen_keep`` cheap-relaxed structures for the expensive backend
    and the next ones, up to ``screen_max``, in ``reserve``. ``backend`` is not called then.
    """
    t0 = time.perf_counter()
    policy = FillingPolicy.from_dict(path.policy)
    cheap_name = resolve_screen(policy.screen_calculator, path.backend.get("name"))
    search = cheap_backend(cheap_name, policy.screen_options) if cheap_name else backend
    meter = CostMeter()
    beam = path.state["beam"]
    n_na = len(path.steps) + 1
    plans: list[CandidatePlan] = []
    n_distinct = n_proposed = n_merged = 0
    fill_order: dict[str, Any] | None = None
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
        if policy.fill_order == "narrow-first" and section_spacings_nm(atoms):
            where = section_of(atoms, sites.positions) if len(sites) else np.zeros(0, int)
            state = section_state(atoms, path.steps, policy.section_sharp_rise_V,
                                  has_sites=lambda k, w=where: bool((w == k).any()))
            if state.open_section is not None:
                order = order[where == state.open_section]
            if rank == 0:
                fill_order = state.as_dict()
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
    # the cut of the pre-screen: with a ladder the cheap level relaxes a wider pool (it costs ~nothing)
    keep = None if policy.prescreen is None else (max(policy.prescreen, policy.screen_pool) if cheap_name
                                                  else policy.prescreen)
    if keep is not None and len(plans) > keep:
        if search is None:
            raise ValueError("pre-screening needs a backend")
        # stage 1: single points at the raw sites
        energies = []
        for p in plans:
            r = search.single_point(p.atoms())
            meter.add(search.name, r, single_point=True)
            energies.append(np.inf if not r.ok else r.energy_eV)
        stage = [1] * len(plans)
        # stage 2: the best ``prescreen_pool`` relax the new Na alone (everything else frozen) for
        # up to ``prescreen_steps`` steps, which ranks far better than the raw single points; they
        # rank ahead of every unrelaxed candidate and the kept ones start from there
        if policy.prescreen_steps > 0:
            pool = np.argsort(np.asarray(energies), kind="stable")[: policy.prescreen_pool]
            for k in sorted(pool):
                a = plans[k].atoms()
                r = search.relax(a, policy.fmax_eV_A, policy.prescreen_steps, fixed=list(range(len(a) - 1)))
                meter.add(search.name, r)
                if r.ok:
                    plans[k].structure = r.structure
                    energies[k], stage[k] = r.energy_eV, 0
        for p, e in zip(plans, energies):
            p.prescreen_energy_eV = float(e) if np.isfinite(e) else None
        prescreen = [float(e) for e in energies]
        order = sorted(range(len(plans)), key=lambda k: (stage[k], energies[k]))
        plans = [plans[k] for k in sorted(order[:keep])]
    # perturbation and nucleation moves: up to refine_max_na / coalesce_max_na Na on a single-
    # fidelity search; at every step on a screen's cheap level and on the surrogate
    every_step = bool(cheap_name) or searches_every_step(path.backend.get("name"))
    if policy.perturbs_at(n_na, every_step):
        plans += _perturbed(plans, policy, step_seed(policy.seed, n_na, 10_000))
    if policy.coalesces_at(n_na, every_step):
        plans += _coalesced(plans, policy, step_seed(policy.seed, n_na, 20_000))
    reserve: list[CandidatePlan] = []
    screen: dict[str, Any] = {}
    n_screened = n_after_screen = 0
    if cheap_name:
        plans, reserve, screen = _screen(path, plans, policy, search, meter, n_na)
        n_screened = len(screen["cheap_energies_eV"])  # the pool and the moves on its relaxed best
        n_after_screen = len(plans)
    return StepPlan(n_na, plans, n_distinct, n_proposed, n_merged, prescreen, time.perf_counter() - t0,
                    n_considered, n_screened, n_after_screen, meter.as_dict(), reserve, screen, fill_order)


def _perturbed(plans: list[CandidatePlan], policy: FillingPolicy, seed: int) -> list[CandidatePlan]:
    """``refine_trials`` copies of the best-ranked candidate with every Na displaced at random."""
    best = _best_ranked(plans)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(policy.refine_trials):
        a = best.atoms()
        na = guest_indices(a)
        a.positions[na] += rng.normal(0.0, policy.refine_sigma_A, (len(na), 3))
        out.append(CandidatePlan(best.parent_rank, best.site_A, "perturbed", atoms_to_dict(a)))
    return out


def _best_ranked(plans: list[CandidatePlan]) -> CandidatePlan:
    """The candidate with the lowest pre-screen energy (the first one when none was pre-screened)."""
    ranked = [p for p in plans if p.prescreen_energy_eV is not None] or plans
    return min(ranked, key=lambda p: p.prescreen_energy_eV if p.prescreen_energy_eV is not None else 0.0)


def _coalesced(plans: list[CandidatePlan], policy: FillingPolicy, seed: int) -> list[CandidatePlan]:
    """Nucleation moves on the best-ranked candidate: 1 .. ``coalesce_max`` isolated Na gathered
    onto the new Na, and onto the largest cluster when there is one (:func:`coalesce`)."""
    best = _best_ranked(plans)
    a = best.atoms()
    na = guest_indices(a)
    labels = na_clusters(a)
    sizes = np.bincount(labels)
    seeds = [int(na[-1])]
    k_big = int(np.argmax(sizes[labels]))  # a Na of the largest cluster
    if sizes[labels[k_big]] > 1 and labels[k_big] != labels[-1]:
        seeds.append(int(na[k_big]))
    out = []
    for s in seeds:
        for m in range(1, policy.coalesce_max + 1):
            moved = coalesce(a, s, m, policy.min_host_distance_A, policy.min_na_distance_A,
                             n_directions=policy.n_directions, rng_seed=seed)
            if moved is None:
                break
            out.append(CandidatePlan(best.parent_rank, best.site_A, "coalesced", atoms_to_dict(moved)))
    return out


def usable_energies(results: list[RelaxResult]) -> list[float]:
    """Each relaxation's energy (eV), ``inf`` where it may not be kept (:func:`_kept_ok`)."""
    return [r.energy_eV if ok else np.inf for r, ok in zip(results, _kept_ok(results))]


def distinct_minima(energies: list[float]) -> list[int]:
    """Indices of the distinct usable minima, lowest energy first: failed ones (``inf``) dropped,
    and of those within :data:`ENERGY_DEDUP_EV` of each other (one minimum reached from two
    starts) the first in energy order kept."""
    seen: list[float] = []
    out = []
    for k in np.argsort(np.asarray(energies), kind="stable"):
        if np.isfinite(energies[k]) and not any(abs(energies[k] - e) < ENERGY_DEDUP_EV for e in seen):
            seen.append(float(energies[k]))
            out.append(int(k))
    return out


def _screen(path: FillingPath, plans: list[CandidatePlan], policy: FillingPolicy, cheap: Backend,
            meter: CostMeter, n_na: int) -> tuple[list[CandidatePlan], list[CandidatePlan], dict[str, Any]]:
    """Relax the surviving candidates fully with the cheap backend and rank them: the best
    ``screen_keep`` go to the expensive backend (starting from the cheap geometry), the next ones
    up to ``screen_max`` wait in reserve.

    The nucleation moves run twice under a screen: on the best pre-screened candidate (in
    :func:`plan_step`) and here again on the best cheap-*relaxed* one; those moves are relaxed and
    ranked with the rest. Gathered onto a relaxed arrangement, the moved Na can land in a cluster
    the moves on the pre-screened candidate never produce (``benchmarks/ladder.py``, 1.82 nm at
    6 Na: SevenNet-0 then keeps a 6-atom cluster 0.11 eV below the six isolated Na it kept
    before; session 10)."""
    results = cheap.relax_many([p.atoms() for p in plans], policy.fmax_eV_A, policy.max_relax_steps, policy.workers)
    energies = usable_energies(results)
    if policy.coalesces_at(n_na, True) and np.isfinite(min(energies)):
        k = int(np.argmin(energies))
        relaxed = CandidatePlan(plans[k].parent_rank, plans[k].site_A, plans[k].site_kind, results[k].structure,
                                float(energies[k]))
        moved = _coalesced([relaxed], policy, step_seed(policy.seed, n_na, 30_000))
        more = cheap.relax_many([p.atoms() for p in moved], policy.fmax_eV_A, policy.max_relax_steps, policy.workers)
        plans, results = plans + moved, results + more
        energies += usable_energies(more)
    for r in results:
        meter.add(cheap.name, r)
    ranked = [CandidatePlan(plans[k].parent_rank, plans[k].site_A, plans[k].site_kind, results[k].structure,
                            float(energies[k])) for k in distinct_minima(energies)]
    if not ranked:
        raise NafillRunError(f"the screening backend {cheap.name!r} failed on every candidate")
    if policy.screen_diversity_eV > 0:
        signatures = [cluster_signature(c.atoms()) for c in ranked]
        ranked = [ranked[k] for k in diverse_order([c.prescreen_energy_eV for c in ranked], signatures,
                                                   policy.screen_diversity_eV)]
    if policy.screen_hessian and takes_initial_hessian(path.backend.get("name", "")):
        for c in ranked[: policy.screen_max]:  # the expensive relaxations start from its curvature
            fd = finite_difference_hessian(cheap, c.atoms())
            if fd is not None:
                attach(c.structure, fd[0])
                meter.add_calls(cheap.name, fd[1], fd[2])
    e_host_cheap = references(cheap, path.host_atoms())["e_host_eV"]
    screen = {"backend": cheap.name, "e_host_cheap_eV": float(e_host_cheap),
              "cheap_energies_eV": [float(e) for e in energies], "added": []}
    return ranked[: policy.screen_keep], ranked[policy.screen_keep: policy.screen_max], screen


# ----------------------------------------------------------------------------- complete
def check_kept_structure(atoms: Atoms, min_host_distance_A: float = MIN_NA_C_DISTANCE_A) -> Rejection | None:
    """Why a relaxed structure cannot be kept (a Na outside the pore or too close to the host)."""
    na = guest_indices(atoms)
    if len(na) == 0:
        return None
    pos = atoms.positions[na]
    inside = between_walls(atoms, pos)
    if not inside.all():
        return Rejection(f"Na {int(na[~inside][0])} left the pore (not between the walls)", expelled=True)
    d = min_distances(atoms, pos, host_indices(atoms))
    if (d < min_host_distance_A).any():
        return Rejection(f"a Na is {d.min():.2f} A from the host (< {min_host_distance_A} A)", expelled=False)
    return None


def _kept_ok(results: list[RelaxResult]) -> list[bool]:
    return [bool(r.ok and check_kept_structure(r.atoms()) is None) for r in results]


def _step_pairs(plan: StepPlan, results: list[RelaxResult], kept_ok: list[bool], e_host_eV: float) -> list[list[float]]:
    """``[x, E_cheap - E_cheap(host), E_exp - E_exp(host)]`` of this step's ladder candidates."""
    e_host_cheap = plan.screen["e_host_cheap_eV"]
    return [[plan.n_na, c.prescreen_energy_eV - e_host_cheap, r.energy_eV - e_host_eV]
            for c, r, good in zip(plan.candidates, results, kept_ok) if good and c.prescreen_energy_eV is not None]


def extend_step(path: FillingPath, plan: StepPlan, results: list[RelaxResult]) -> list[int]:
    """The ladder's adaptive rule for one step (every engine calls this after each round of
    expensive relaxations): indices of the candidates added to ``plan`` (empty: decided)."""
    if not plan.screen or not plan.reserve:
        return []
    policy = FillingPolicy.from_dict(path.policy)
    kept_ok = _kept_ok(results)
    correction = None
    if policy.screen_learn:
        pairs = path.state.get("ladder_pairs", []) + _step_pairs(plan, results, kept_ok, path.reference["e_host_eV"])
        correction = Correction.fit(pairs)
    return extend_plan(plan, results, kept_ok, policy, correction, plan.screen["e_host_cheap_eV"],
                       path.reference["e_host_eV"])


def complete_step(
    path: FillingPath, plan: StepPlan, results: list[RelaxResult], wall_s: float | None = None
) -> StepRecord:
    """Select the lowest-energy relaxed candidates, record the step and advance ``path``.

    Raises :class:`PoreFullError` (leaving ``path`` unchanged) if every candidate relaxed but
    pushed a Na out of the pore (the pore holds no more: a normal end of the fill), else
    :class:`NafillRunError` if every candidate failed.
    """
    if len(results) != len(plan.candidates):
        raise ValueError(f"{len(results)} results for {len(plan.candidates)} candidates")
    policy = FillingPolicy.from_dict(path.policy)
    ref = path.reference
    failures: list[str] = []
    ok: list[tuple[float, int, int]] = []
    energies: list[float | None] = []
    n_expelled = 0
    for k, (cand, res) in enumerate(zip(plan.candidates, results)):
        if not res.ok:
            failures.append(f"candidate {k} ({cand.site_kind}): {res.error}")
            energies.append(None)
            continue
        why = check_kept_structure(res.atoms())
        energies.append(float(res.energy_eV))
        if why:
            failures.append(f"candidate {k} ({cand.site_kind}): {why}")
            n_expelled += why.expelled
            continue
        ok.append((float(res.energy_eV), cand.parent_rank, k))
    if not ok and n_expelled == len(results):
        raise PoreFullError(
            f"every candidate for Na number {plan.n_na} pushed a Na out of the pore on relaxing: the pore "
            f"is full at {plan.n_na - 1} Na ({len(results)} candidates tried)"
        )
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
    meter = CostMeter(plan.cost)
    for r in results:
        meter.add(path.backend.get("name", r.backend), r)
    ladder = _ladder_record(path, plan, results, k_best, policy) if plan.screen else None
    now = time.time()
    step_wall = float(plan.wall_s + sum(r.wall_s for r in results) if wall_s is None else wall_s)
    clock = path.state.get("clock_s")
    record = StepRecord(
        n_na=n,
        energy_eV=e_best,
        formation_enthalpy_eV=float(h),
        step_voltage_V=float(v),
        n_candidates=plan.n_candidates,
        n_relaxed=len(results),
        wall_s=step_wall,
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
        cost=meter.as_dict(),
        ladder=ladder,
        fill_order=plan.fill_order,
        elapsed_s=float(now - clock) if clock else step_wall,
    )
    path.steps.append(record.as_dict())
    path.state["clock_s"] = now
    path.state["beam"] = [
        {"energy_eV": e, "parent_rank": p, "structure": results[k].structure} for e, p, k in chosen
    ]
    stop = stop_reason(path)
    path.state["finished"] = stop is not None
    path.state["stop_reason"] = stop
    path.summary = summarize(path)
    return record


def _ladder_record(path: FillingPath, plan: StepPlan, results: list[RelaxResult], k_best: int,
                   policy: FillingPolicy) -> dict[str, Any]:
    """What the ladder did this step, and how well the cheap level predicted the expensive one;
    also files this step's cheap/expensive pairs for the run's correction."""
    e_host, e_host_cheap = path.reference["e_host_eV"], plan.screen["e_host_cheap_eV"]
    history = list(path.state.get("ladder_pairs", []))
    before = Correction.fit(history)  # what the run knew before this step
    cheap = [c.prescreen_energy_eV for c in plan.candidates]
    kept_ok = _kept_ok(results)
    cheap_rank = sorted(range(len(cheap)), key=lambda k: cheap[k]).index(k_best)
    c_rel = cheap[k_best] - e_host_cheap
    e_rel = results[k_best].energy_eV - e_host
    path.state["ladder_pairs"] = history + _step_pairs(plan, results, kept_ok, e_host)
    return {
        "cheap_backend": plan.screen["backend"],
        "learn": bool(policy.screen_learn),
        "n_expensive": len(results),
        "n_reserve_left": len(plan.reserve),
        "added": list(plan.screen.get("added", [])),
        "cheap_rank_of_kept": int(cheap_rank),
        "agree": cheap_rank == 0,
        "correction_before": before.as_dict(),
        "prediction_error_eV": float(before.predict(c_rel, plan.n_na) - e_rel),
        "prediction_error_uncorrected_eV": float(c_rel - e_rel),
    }


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

