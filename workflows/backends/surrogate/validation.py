"""How closely the ``surrogate`` backend reproduces SevenNet-0, on structures not used in the fit.

Every comparison here reads SevenNet-0's numbers from the labelled held-out data
(``training/``: the naive reference fills of the 1.19 and 1.82 nm cavities, orifice fills at
0.45 and 0.60 nm, their kept structures relaxed on to the protocol's 0.01 eV/A, test isomers of
Na_n clusters) and from ``training/sevennet_reference.json`` (bcc Na, the free atom, one Na on
one wall), so no SevenNet run is needed to validate.
``benchmarks/surrogate_accuracy.py`` prints the whole table; the tests check a subset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.geometry import find_mic
from ase.io import read
from scipy.stats import spearmanr

from nafill.analysis.profile import nucleation_barrier
from nafill.structures.geometry import guest_indices
from nafill.structures.graphene import graphene_bilayer
from nafill.structures.sites import add_guest, hexagon_centres
from nafill.workflows.backends.base import Backend
from nafill.workflows.backends.surrogate.label_sevennet import HELDOUT_FMAX_EV_A, TIGHT_FMAX_EV_A, labelled_file

TRAINING_DIR = Path(__file__).resolve().parent / "training"
REFERENCE_FILE = TRAINING_DIR / "sevennet_reference.json"


def _read(name: str) -> list[Atoms]:
    p = labelled_file(name, TRAINING_DIR)
    if p is not None:
        return read(p, index=":")
    raise FileNotFoundError(f"{TRAINING_DIR}/{name}.extxyz(.gz) is missing: run the labelling script")


def one_wall_start() -> tuple[Atoms, Atoms]:
    """One graphene sheet (the lower wall of a 4x4 bilayer) and it with one Na 2.4 A above a hollow."""
    pair = graphene_bilayer(1.0, (4, 4))
    hollow = hexagon_centres(pair, 1)[0]
    sheet = pair[[i for i, t in enumerate(pair.get_tags()) if t == 1]]
    z = sheet.positions[:, 2].mean()
    return sheet, add_guest(sheet, np.array([hollow[0] + 0.2, hollow[1], z + 2.4]))


def reference_numbers(backend) -> dict[str, Any]:
    """bcc Na, free atom and one-Na-on-a-wall numbers of ``backend`` (the same recipe for both)."""
    bcc = backend.bulk_na()
    atom = Atoms("Na", positions=[[7.5, 7.5, 7.5]], cell=[15, 15, 15], pbc=False)
    e_atom = backend.single_point(atom).energy_eV
    sheet, start = one_wall_start()
    e_sheet = backend.single_point(sheet).energy_eV
    r = backend.relax(start, 0.01, 300)
    a = r.atoms()
    height = float(a.positions[-1, 2] - a.positions[:-1, 2].mean())
    return {"bcc_lattice_A": bcc.lattice_A, "mu_na_eV": bcc.energy_per_atom_eV,
            "bcc_bulk_modulus_GPa": bcc.bulk_modulus_GPa, "e_atom_eV": e_atom,
            "cohesive_energy_eV": e_atom - bcc.energy_per_atom_eV,
            "one_wall_height_A": height, "one_wall_h1_eV": r.energy_eV - e_sheet - bcc.energy_per_atom_eV}


def sevennet_reference() -> dict[str, Any]:
    """SevenNet-0's reference numbers (computed once with the mlip backend, then read back)."""
    if REFERENCE_FILE.exists():
        return json.loads(REFERENCE_FILE.read_text())
    from nafill.workflows.backends.registry import get_backend  # lazy: needs the mlip extra

    ref = reference_numbers(get_backend("mlip"))
    REFERENCE_FILE.write_text(json.dumps(ref, indent=1))
    return ref


@dataclass
class HeldOutFill:
    """A SevenNet-0 fill from the held-out set: host, every step's relaxed candidates (``kept`` in
    their ``info`` marks the one the fill kept) and, where labelled, the same relaxed on to the
    protocol's 0.01 eV/A: the kept ones (``<fill>_tight``) or every one (``<fill>_tight_all``)."""

    name: str
    spacing_nm: float
    host: Atoms
    e_host_eV: float
    candidates: dict[int, list[Atoms]] = field(default_factory=dict)
    tight_candidates: dict[int, list[Atoms]] = field(default_factory=dict)

    def step(self, x: int, tight: bool = False) -> list[Atoms]:
        """The relaxed candidates of step ``x`` (``tight``: those relaxed on to 0.01 eV/A, the
        kept one only unless ``<fill>_tight_all`` is labelled)."""
        if not tight:
            return self.candidates[x]
        if x not in self.tight_candidates:
            raise FileNotFoundError(f"{TRAINING_DIR}/{self.name}_tight(_all).extxyz(.gz) lacks x = {x}: run "
                                    f"label_sevennet --part heldout --only {self.name}_tight")
        return self.tight_candidates[x]

    @property
    def every_candidate_tight(self) -> bool:
        """Whether every candidate of every step has its 0.01 eV/A relaxation."""
        return all(len(self.tight_candidates.get(x, [])) == len(c) for x, c in self.candidates.items())

    def kept(self, x: int, tight: bool = False) -> Atoms:
        """The structure the fill kept at ``x`` Na (``tight``: relaxed on to 0.01 eV/A)."""
        return next(a for a in self.step(x, tight) if a.info.get("kept"))

    @property
    def n_max(self) -> int:
        return max(self.candidates)

    def h_sevennet(self, mu_eV: float, tight: bool = False) -> np.ndarray:
        """SevenNet-0's H(x) of the kept structures, x = 1..n_max (eV)."""
        return np.array([self.kept(x, tight).get_potential_energy() - self.e_host_eV - x * mu_eV
                         for x in range(1, self.n_max + 1)])


def held_out_fill(name: str) -> HeldOutFill:
    frames = _read(name)
    host = next(a for a in frames if a.info.get("step") == 0)
    fill = HeldOutFill(name, float(host.info["spacing_nm"]), host, host.get_potential_energy())
    for a in frames:
        x = int(a.info.get("step", 0))
        if x > 0 and a.info.get("final"):
            fill.candidates.setdefault(x, []).append(a)
    for tight_name in (f"{name}_tight_all", f"{name}_tight"):  # every candidate, or the kept ones
        try:
            tight = _read(tight_name)
        except FileNotFoundError:
            continue
        for a in tight:  # end points only (a training fill's file also keeps the way down)
            if int(a.info.get("step", 0)) > 0 and a.info.get("final", True):
                fill.tight_candidates.setdefault(int(a.info["step"]), []).append(a)
        break
    return fill


def _bare(a: Atoms) -> Atoms:
    b = a.copy()
    b.calc = None
    return b


def surrogate_profile(backend, fill: HeldOutFill, mu_eV: float, n_max: int | None = None, *,
                      tight: bool) -> np.ndarray:
    """H(x) of SevenNet-0's kept structures, each re-relaxed by ``backend`` (eV).

    ``tight`` (the accuracy benchmark's rows): start from the kept structures relaxed on to the
    protocol's 0.01 eV/A and relax to 0.01 eV/A, so both sides compare minima at one tolerance;
    otherwise the fill's structures at 0.05 eV/A, relaxed to 0.05 eV/A.
    """
    fmax_eV_A = TIGHT_FMAX_EV_A if tight else HELDOUT_FMAX_EV_A
    e0 = backend.single_point(_bare(fill.host)).energy_eV
    n = min(n_max or fill.n_max, fill.n_max)
    out = []
    for x in range(1, n + 1):
        r = backend.relax(_bare(fill.kept(x, tight)), fmax_eV_A, 800)
        out.append(r.energy_eV - e0 - x * mu_eV)
    return np.array(out)


def _way(start: Atoms, end: Atoms) -> np.ndarray:
    """Per-atom displacement from ``start`` to ``end`` (A), by the minimum image in periodic
    directions (an atom that crossed a cell face moves the short way, not across the cell)."""
    d = end.positions - start.positions
    if start.pbc.any():
        d, _ = find_mic(d, start.cell, start.pbc)
    return d


def displaced_toward(start: Atoms, end: Atoms, rms_A: float) -> Atoms:
    """``start`` with its Na moved along the straight line to their positions in ``end`` (same
    atoms, same order), scaled so that the displacement has an RMS of ``rms_A`` per Na
    coordinate (A; a Gaussian rattle of standard deviation ``rms_A`` has the same size). A
    ``start`` whose Na do not move on the way to ``end`` (under 1e-6 A RMS) comes back as is."""
    out = _bare(start)
    na = out.numbers == 11
    d = _way(start, end)[na]
    rms = float(np.sqrt((d ** 2).mean())) if na.any() else 0.0
    if rms > 1e-6:
        out.positions[na] += d * (rms_A / rms)
    return out


def line_energies(backend: Backend, start: Atoms, end: Atoms, fractions: list[float]) -> np.ndarray:
    """``backend``'s energy at points ``start + t (end - start)`` of the straight line between two
    structures (same atoms, same order), less its energy at ``start`` (eV), for each ``t`` in
    ``fractions`` (the way by the minimum image, :func:`_way`). The largest value before the line
    first drops below ``start`` (:func:`barrier_bound`) bounds from above the barrier that
    separates ``start`` from ``end`` on ``backend``'s surface."""
    e0 = backend.single_point(_bare(start)).energy_eV
    d = _way(start, end)
    out = []
    for t in fractions:
        a = _bare(start)
        a.positions = start.positions + t * d
        out.append(backend.single_point(a).energy_eV - e0)
    return np.array(out)


def barrier_bound(line_eV: np.ndarray, drop_eV: float = 0.01) -> float:
    """The largest rise (eV, >= 0) of a :func:`line_energies` scan before it first lies more than
    ``drop_eV`` below its start: an upper bound on the barrier between the start and the lower
    structure the line leads to (``inf`` where the line never drops that far)."""
    line = np.asarray(line_eV, float)
    below = np.flatnonzero(line < -drop_eV)
    if below.size == 0:
        return float("inf")
    return float(line[:below[0]].max(initial=0.0))


def ranking(backend: Backend, fill: HeldOutFill, tol_eV: float = 0.03, *, tight: bool,
            reference: Backend | None = None, rattle_A: float = 0.0, seed: int = 0,
            steps: list[int] | None = None, toward: Backend | None = None,
            relax_on: bool = False) -> list[dict[str, Any]]:
    """Per step: Spearman rho of relaxed candidate energies (SevenNet-0 vs ``backend``
    re-relaxing SevenNet-0's relaxed candidates) and whether ``backend``'s favourite is SevenNet-0's
    lowest or within ``tol_eV`` of it. ``tight``: both sides at 0.01 eV/A, as in
    :func:`surrogate_profile` (needs ``<fill>_tight_all``); otherwise the fill's candidates at
    0.05 eV/A, relaxed to 0.05.

    ``reference`` (a backend, e.g. ``mlip``; costs one single point per candidate): also where
    ``backend``'s relaxations *end*, judged by the reference itself. ``ref_drop_eV`` is the
    reference energy at each end point less its own relaxed candidate's (negative: ``backend``
    slid on into a structure the reference puts lower, so the reference's candidate was no
    minimum of its own surface); ``rho_at_ends`` and ``same_choice_at_ends`` rank ``backend``'s
    end points by both models on the same structures; ``pick_vs_best_eV`` is the reference energy
    of ``backend``'s favourite end point less the reference's lowest relaxed candidate (what a
    screen that hands its favourite to the reference gets: negative is better than the
    reference's own search).

    Always (one ``backend`` single point per candidate, no reference needed): ``rho_single_point``
    ranks SevenNet-0's candidates by ``backend``'s energy *at* them, unrelaxed (an error of the
    energies themselves), and ``slide_eV`` is each relaxation's energy change from there (eV,
    <= 0: a large slide at a minimum of SevenNet-0 is a valley of ``backend``'s own).

    ``rattle_A``: each candidate's Na displaced by Gaussian noise of this standard deviation per
    coordinate (A; generator seeded by ``seed``, the step and the candidate) before ``backend``
    relaxes it. With ``backend`` SevenNet-0 itself this measures the row's ceiling: how well the
    reference ranks its own minima from starts that far from them. ``steps``: only these x.

    ``toward`` (another backend, e.g. the surrogate; needs ``rattle_A`` > 0): instead of random
    noise, each start is displaced by ``rattle_A`` RMS per Na coordinate along the straight line
    to where ``toward``'s own relaxation of the candidate ends (:func:`displaced_toward`): the
    reference's ranking from starts as far from its minima as the rattle's, in the direction
    the other model's surface leads.

    ``relax_on`` (needs ``reference``; one reference relaxation per candidate): the reference
    also relaxes on from each of ``backend``'s end points to the same tolerance, and each
    candidate's *reached* reference energy is the lower of its own relaxed candidate's and that
    relaxation's: the reference's candidate energies once it has followed ``backend``'s way out of
    its minima. ``rho_reached`` and ``same_choice_reached`` rank ``backend``'s end energies against
    these. ``on_drop_eV`` is the relaxed-on energy less the reference's own candidate (negative:
    the reference, started where ``backend`` stopped, finds a lower minimum than its own);
    ``on_evaluations``, its energy+force calls from ``backend``'s end points; ``own_evaluations``,
    the reference's calls for the candidate in the fill (its relaxation from the naive start to
    0.05 eV/A and, where ``tight``, on to 0.01 eV/A; None where the fill's files do not say)."""
    if toward is not None and not rattle_A > 0:
        raise ValueError(f"ranking(toward=...) needs rattle_A > 0 (got {rattle_A})")
    if relax_on and reference is None:
        raise ValueError("ranking(relax_on=True) needs a reference backend")
    if tight and not fill.every_candidate_tight:
        raise FileNotFoundError(f"{TRAINING_DIR}/{fill.name}_tight_all.extxyz(.gz) is missing or short: run "
                                f"label_sevennet --part heldout --only {fill.name}_tight_all")
    fmax_eV_A = TIGHT_FMAX_EV_A if tight else HELDOUT_FMAX_EV_A
    rows = []
    for x in sorted(fill.candidates):
        cands = fill.step(x, tight)
        if len(cands) < 3 or (steps is not None and x not in steps):
            continue
        e7 = np.array([a.get_potential_energy() for a in cands])
        e_at = np.array([backend.single_point(_bare(a)).energy_eV for a in cands])
        starts = [_bare(a) for a in cands]
        if toward is not None:
            starts = [displaced_toward(a, toward.relax(a, fmax_eV_A, 800).atoms(), rattle_A) for a in starts]
        elif rattle_A > 0:
            for k, a in enumerate(starts):
                na = a.numbers == 11
                a.positions[na] += np.random.default_rng([seed, x, k]).normal(0.0, rattle_A, (int(na.sum()), 3))
        ends = [backend.relax(a, fmax_eV_A, 800) for a in starts]
        es = np.array([r.energy_eV for r in ends])
        pick = int(np.argmin(es))
        row = {"fill": fill.name, "x": x, "n": len(cands), "rho": float(spearmanr(e7, es).statistic),
               "same_choice": bool(e7[pick] - e7.min() <= tol_eV), "miss_eV": float(e7[pick] - e7.min()),
               "rho_single_point": float(spearmanr(e7, e_at).statistic), "slide_eV": (es - e_at).tolist()}
        if reference is not None:
            e_end = np.array([reference.single_point(r.atoms()).energy_eV for r in ends])
            row.update(rho_at_ends=float(spearmanr(e_end, es).statistic),
                       same_choice_at_ends=bool(e_end[pick] - e_end.min() <= tol_eV),
                       ref_drop_eV=(e_end - e7).tolist(), pick_vs_best_eV=float(e_end[pick] - e7.min()))
        if relax_on:
            on = [reference.relax(r.atoms(), fmax_eV_A, 800) for r in ends]
            e_on = np.array([r.energy_eV for r in on])
            reached = np.minimum(e7, e_on)
            row.update(rho_reached=float(spearmanr(reached, es).statistic),
                       same_choice_reached=bool(reached[pick] - reached.min() <= tol_eV),
                       miss_reached_eV=float(reached[pick] - reached.min()), on_drop_eV=(e_on - e7).tolist(),
                       on_evaluations=[int(r.n_evaluations) for r in on],
                       own_evaluations=_own_evaluations(fill, x, tight))
        rows.append(row)
    return rows


def _own_evaluations(fill: HeldOutFill, x: int, tight: bool) -> list[int] | None:
    """SevenNet-0's energy+force calls for each candidate of step ``x`` in the fill, from the naive
    start to 0.05 eV/A and, where ``tight``, on to 0.01 eV/A (one call more than the optimiser's
    steps per relaxation); None where a frame does not record its steps."""
    parts = [fill.step(x, False)] + ([fill.step(x, True)] if tight else [])
    if any("n_steps" not in a.info or "candidate" not in a.info for p in parts for a in p):
        return None
    calls = [{int(a.info["candidate"]): int(a.info["n_steps"]) + 1 for a in p} for p in parts]
    return [sum(c[int(a.info["candidate"])] for c in calls) for a in parts[-1]]


def cluster_errors(backend, fmax_eV_A: float = 0.02) -> list[dict[str, Any]]:
    """Na_n in vacuum (test isomers): energy per atom of SevenNet-0's lowest test isomer and of
    ``backend`` re-relaxing it (eV/atom)."""
    frames = [a for a in _read("clusters") if a.info.get("split") == "test" and a.info.get("final")]
    rows = []
    for n in sorted({int(a.info["n_na"]) for a in frames}):
        best = min((a for a in frames if int(a.info["n_na"]) == n), key=lambda a: a.get_potential_energy())
        r = backend.relax(_bare(best), fmax_eV_A, 500, fixed=[])
        rows.append({"n": n, "sevennet_eV_atom": best.get_potential_energy() / n,
                     "surrogate_eV_atom": r.energy_eV / n,
                     "error_eV_atom": r.energy_eV / n - best.get_potential_energy() / n})
    return rows


def barrier_summary(h: np.ndarray, tol_eV: float = 0.05) -> dict[str, Any]:
    nuc = nucleation_barrier(h, tol_eV=tol_eV)
    return {"status": nuc.status, "barrier_eV": nuc.barrier_eV, "critical_size": nuc.critical_size}


def guest_count(a: Atoms) -> int:
    return len(guest_indices(a))
