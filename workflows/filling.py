"""The filling engine: add Na one at a time along the lowest-enthalpy path.

One step (for every structure kept in the beam):

1. :func:`plan_step` proposes candidate sites (:func:`nafill.structures.sites.candidate_sites`),
   caps them at ``n_candidates`` (a seeded subset), optionally pre-screens them with single points
   and keeps the best ``prescreen`` for relaxation;
2. the candidates are relaxed *somewhere* (in this process, a process pool, or FireWorks), with
   the host frozen;
3. :func:`complete_step` rejects failed relaxations and any structure in which a Na left the pore
   or came closer than 2 A to a host atom, keeps the ``beam_width`` lowest energies and records
   the step.

:func:`fill` is the local loop (checkpointed after every step, resumable); notebooks call it,
the CLI calls it, and the FireWorks tasks call :func:`plan_step` / :func:`complete_step`, so the
logic of a step lives only here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from ase import Atoms

from nafill import __version__
from nafill.constants import MIN_NA_C_DISTANCE_A
from nafill.errors import NafillInputError, NafillRunError, check_int, check_range
from nafill.io import atoms_from_dict, atoms_to_dict
from nafill.structures.capacity import pore_capacity
from nafill.structures.geometry import between_walls, guest_indices, host_indices, min_distances
from nafill.structures.sites import add_guest, candidate_sites
from nafill.workflows.backends.base import Backend
from nafill.workflows.documents import FillingPath, RelaxResult, StepRecord
from nafill.workflows.references import references

log = logging.getLogger(__name__)

class PoreFullError(NafillRunError):
    """No candidate site is left for the next Na: the fill ends there (a normal stop)."""


ENERGY_DEDUP_EV = 1e-6
"""Beam members closer than this in energy are taken to be the same structure."""


@dataclass
class FillingPolicy:
    """How a fill searches. Counts are per step and per beam member.

    Attributes:
        max_na: stop after this many Na (default: the host's theoretical capacity).
        n_candidates: at most this many symmetry-distinct sites are considered (a seeded subset
            when more are proposed).
        prescreen: relax only the best ``prescreen`` candidates by single-point energy
            (None: relax every considered candidate, no pre-screen).
        prescreen_steps: 0 = pre-screen by single points at the raw sites; N > 0 = the best
            ``prescreen_pool`` of those then relax the new Na alone (the rest frozen) for up to N
            steps before the final ranking, and the kept ones start from there.
        prescreen_pool: candidates given the short relaxation (see ``prescreen_steps``).
        beam_width: keep this many lowest-energy structures per step (1 = greedy path).
        fmax_eV_A: force threshold of the relaxations, eV/A.
        max_relax_steps: ionic steps allowed per relaxation.
        stop_rise_eV: stop once H has stayed more than this above its running minimum for
            ``stop_patience`` consecutive steps (None: off). Set it above the expected
            nucleation barrier, or the fill stops on the barrier.
        stop_patience: see ``stop_rise_eV``.
        seed: seed of every random choice (site directions and subsets).
        workers: processes relaxing candidates in parallel (does not change the path).
        refine_trials: add this many extra candidates per step: the best pre-screened structure
            with every Na displaced at random (Gaussian, ``refine_sigma_A``), relaxed like the
            others; it finds collective rearrangements that adding one Na does not (a cheap
            basin-hopping move). Applied while the pore holds at most ``refine_max_na`` Na, where
            small-cluster isomers compete (0 trials: off).
        refine_sigma_A: width of the random displacements, A.
        refine_max_na: last Na count that gets the refinement candidates.
        screen_calculator: multi-fidelity screening: relax every considered candidate with this
            cheap backend (e.g. "emt") first and send only the best ``screen_keep`` to the fill's
            backend, starting from the cheap geometry (replaces the single-point pre-screen).
        screen_keep: candidates passed on by the screening.
        site_height_A, min_host_distance_A, min_na_distance_A, n_directions: passed to
            :func:`nafill.structures.sites.candidate_sites`.
    """

    max_na: int | None = None
    n_candidates: int = 64
    prescreen: int | None = 4
    prescreen_steps: int = 5
    prescreen_pool: int = 64
    beam_width: int = 1
    fmax_eV_A: float = 0.05
    max_relax_steps: int = 300
    stop_rise_eV: float | None = None
    stop_patience: int = 3
    seed: int = 0
    workers: int = 1
    refine_trials: int = 2
    refine_sigma_A: float = 0.8
    refine_max_na: int = 6
    screen_calculator: str | None = None
    screen_keep: int = 2
    site_height_A: float = 2.4
    min_host_distance_A: float = 2.0
    min_na_distance_A: float = 2.8
    n_directions: int = 16

    NON_PHYSICAL = ("workers", "max_na", "stop_rise_eV", "stop_patience")
    """Fields that may change on resume without changing the path computed so far."""

    def validate(self, capacity: int | None = None) -> FillingPolicy:
        """Check every value (raising :class:`NafillInputError`); fill ``max_na`` from capacity."""
        check_int("n_candidates", self.n_candidates, 1, 10000)
        if self.prescreen is not None:
            check_int("prescreen", self.prescreen, 1, 10000)
        check_int("prescreen_steps", self.prescreen_steps, 0, 10000)
        check_int("prescreen_pool", self.prescreen_pool, 1, 10000)
        check_int("beam_width", self.beam_width, 1, 100)
        check_range("fmax_eV_A", self.fmax_eV_A, 0.0, 10.0, "eV/A", lo_inclusive=False)
        check_int("max_relax_steps", self.max_relax_steps, 1, 100000)
        if self.stop_rise_eV is not None:
            check_range("stop_rise_eV", self.stop_rise_eV, 0.0, None, "eV", lo_inclusive=False)
        check_int("stop_patience", self.stop_patience, 1, 1000)
        check_int("seed", self.seed, 0, 2**32 - 1)
        from nafill.workflows.parallel import resolve_workers

        self.workers = resolve_workers(self.workers)
        check_range("site_height_A", self.site_height_A, 1.0, 5.0, "A")
        check_range("min_host_distance_A", self.min_host_distance_A, 0.5, 4.0, "A")
        check_range("min_na_distance_A", self.min_na_distance_A, 0.5, 5.0, "A")
        check_int("n_directions", self.n_directions, 1, 1000)
        check_int("screen_keep", self.screen_keep, 1, 10000)
        check_int("refine_trials", self.refine_trials, 0, 1000)
        check_int("refine_max_na", self.refine_max_na, 0, 100000)
        check_range("refine_sigma_A", self.refine_sigma_A, 0.0, 3.0, "A", lo_inclusive=False)
        if self.screen_calculator is not None:
            from nafill.workflows.backends.registry import get_backend

            get_backend(self.screen_calculator)  # unknown names and missing extras fail now
        if capacity is not None:
            if capacity < 1:
                raise NafillInputError(
                    "the host has a theoretical capacity of 0 Na (its pore is too narrow for any Na)"
                )
            if self.max_na is None:
                self.max_na = capacity
            check_int("max_na", self.max_na, 1, capacity)
        elif self.max_na is not None:
            check_int("max_na", self.max_na, 1, 100000)
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FillingPolicy:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def physical(self) -> dict[str, Any]:
        """The fields that determine the path (everything but :attr:`NON_PHYSICAL`)."""
        return {k: v for k, v in self.as_dict().items() if k not in self.NON_PHYSICAL}


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
    from nafill.workflows.backends.registry import get_backend

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
    return None


def summarize(path: FillingPath) -> dict[str, Any]:
    """Headline numbers of a (partial) path: barrier, critical size, capacities."""
    from nafill.analysis.profile import nucleation_barrier, practical_capacity

    if not path.steps:
        return {"n_steps": 0}
    n = [s["n_na"] for s in path.steps]
    h = [s["formation_enthalpy_eV"] for s in path.steps]
    nuc = nucleation_barrier(h, n)
    return {
        "n_steps": len(path.steps),
        "n_na_final": n[-1],
        "formation_enthalpy_final_eV": h[-1],
        "formation_enthalpy_min_eV": float(min(h)),
        "nucleation": nuc.as_dict(),
        "nucleation_barrier_eV": nuc.barrier_eV,
        "critical_size": nuc.critical_size,
        "practical_capacity_na": practical_capacity(h, n),
        "theoretical_capacity_na": path.reference.get("theoretical_capacity_na"),
        "n_relaxations": int(sum(s["n_relaxed"] for s in path.steps)),
        "wall_s": float(sum(s["wall_s"] for s in path.steps)),
        "finished": bool(path.state.get("finished")),
        "stop_reason": path.state.get("stop_reason"),
    }


# ----------------------------------------------------------------------------- start / loop
def start_path(
    host: Atoms, backend: Backend, policy: FillingPolicy, use_cache: bool = True
) -> FillingPath:
    """A new, empty path: validated policy, references computed (or read from the cache)."""
    capacity = pore_capacity(host)
    policy.validate(capacity)
    if len(guest_indices(host)):
        raise NafillInputError(
            f"the host already holds {len(guest_indices(host))} Na; start from an empty host"
        )
    ref = references(backend, host, use_cache)
    ref["theoretical_capacity_na"] = capacity
    host_doc = atoms_to_dict(host)
    return FillingPath(
        host=host_doc,
        backend=backend.describe(),
        policy=policy.as_dict(),
        reference=ref,
        state={"beam": [{"energy_eV": ref["e_host_eV"], "parent_rank": 0, "structure": host_doc}],
               "finished": False, "stop_reason": None},
        nafill_version=__version__,
    )


def run_step(path: FillingPath, backend: Backend) -> StepRecord | None:
    """Plan, relax (in this process or the policy's worker pool) and complete one step.

    Returns None (and marks the path finished) when no candidate site is left.
    """
    t0 = time.perf_counter()
    policy = FillingPolicy.from_dict(path.policy)
    try:
        plan = plan_step(path, backend)
    except PoreFullError as exc:
        finish(path, str(exc))
        return None
    results = backend.relax_many(
        [c.atoms() for c in plan.candidates], policy.fmax_eV_A, policy.max_relax_steps, policy.workers
    )
    return complete_step(path, plan, results, wall_s=time.perf_counter() - t0)


def fill(
    host: Atoms,
    backend: Backend,
    policy: FillingPolicy | None = None,
    out_dir=None,
    on_step: Callable[[StepRecord, FillingPath], None] | None = None,
    resume: bool = True,
    use_cache: bool = True,
) -> FillingPath:
    """Fill ``host`` with Na along the lowest-enthalpy path.

    Args:
        host: empty pore model (carbon frozen).
        backend: energy backend (e.g. ``get_backend("emt")``).
        policy: search policy (default :class:`FillingPolicy()`).
        out_dir: if given, ``path.json`` and ``path.extxyz`` are written there after every step,
            and an unfinished run found there is resumed (same host, backend and policy).
        on_step: called after every step (progress bars, logging).
        resume: resume from ``out_dir`` when possible (else refuse to overwrite a different run).
        use_cache: reuse cached reference energies.

    Returns:
        The :class:`FillingPath` document.
    """
    from nafill.workflows.store import RunStore

    policy = policy or FillingPolicy()
    store = RunStore(out_dir) if out_dir is not None else None
    path = None
    if store is not None and resume:
        path = store.load_for_resume(host, backend, policy)
    if path is None:
        path = start_path(host, backend, policy, use_cache)
        if store is not None:
            store.save(path)
    while not path.state.get("finished"):
        record = run_step(path, backend)
        if store is not None:
            store.save(path)
        if record is None:
            log.info("stopping: %s", path.state["stop_reason"])
            break
        log.info("step %d: H = %.4f eV, V = %.4f V", record.n_na, record.formation_enthalpy_eV,
                 record.step_voltage_V)
        if on_step is not None:
            on_step(record, path)
    return path
