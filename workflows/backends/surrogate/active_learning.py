"""One round of active learning: label the surrogate's own minima with SevenNet-0.

    python -m nafill.workflows.backends.surrogate.active_learning --parameters FILE [--out DIR]

A fitted surrogate, filling pores on its own, finds the configurations where it is most wrong
(its spurious minima: e.g. Na islands on a wall that SevenNet-0 finds repulsive). This script
fills the *training* pores (never the held-out 1.19/1.82 nm cavities or the 0.45/0.60 nm
orifices) with the surrogate, and labels with SevenNet-0 every kept structure and a short
(10-step) SevenNet-0 relaxation from it (every second frame), which walks from the surrogate's
minimum towards SevenNet-0's: the frames land in ``DIR/active_<round>.extxyz`` with
``split = "train"``. Deterministic (fill seeds, one torch thread); about 12 SevenNet-0 calls per step.

    python -m nafill.workflows.backends.surrogate.active_learning --parameters FILE --drift [--out DIR]

``--drift`` labels the other failure: the surrogate's surface sloping away from SevenNet-0's own
minima. Every relaxed candidate of the committed SevenNet-0 training fills (``DRIFT_FILLS``) is
relaxed again by the surrogate; the end point is labelled, and the midpoint too when a Na moved
more than 0.3 A (round 6: 294 frames, 294 SevenNet-0 calls, 4 min on one core).
``--drift-fills NAME:FIRST_NA ...`` names other training fills instead (e.g. the
``<fill>_tight_all`` runs of ``label_sevennet``, SevenNet-0's minima at 0.01 eV/A, read from
``--out`` first), ``--drift-fmax`` the surrogate's tolerance (0.01 for those).

    python -m nafill.workflows.backends.surrogate.active_learning --parameters FILE --motifs --pores ...

``--motifs`` labels the choice a fidelity ladder hands to SevenNet-0: at every step of the
surrogate's own fill (from ``--motif-first-na`` Na on) its relaxed candidates are ordered as the
ladder orders them (the lowest, then the lowest of each other motif within the policy's
``screen_diversity_eV``, :func:`nafill.workflows.engine.ladder.diverse_order`) and the first
``--motif-count`` are labelled, each with a 10-step SevenNet-0 relaxation. The surrogate's worst
errors are between motifs (1.82 nm, 6 Na: a 4-atom cluster against six isolated Na), and the
step-relative loss of the fit sees a step's motifs together. About 44 SevenNet-0 calls per step.

    python -m nafill.workflows.backends.surrogate.active_learning --parameters FILE --naive --pores ...

``--naive`` labels SevenNet-0's own minima as the held-out ranking row meets them: at every step
of the surrogate's fill (from ``--naive-first-na`` Na on) ``--naive-count`` random candidates of
the naive rule (:func:`.label_sevennet.naive_candidate`, seeded by the round, the spacing and
the step) are added to the surrogate's kept structure and each is relaxed by SevenNet-0 to the
protocol's 0.01 eV/A (at most 300 BFGS steps), every 5th frame and the end point kept. The
training cavities' SevenNet-0 minima at 0.01 eV/A stop at 6 Na below 1.35 nm (``fill_c105``);
these rounds fill that gap. Rounds 18a / 18b (``--pores 1.12:16`` / ``1.26:16 --naive-count 3``,
session 19): 82 and 66 SevenNet-0 calls per candidate, 44 and 36 min of one core; in
``training/pending/``, outside the shipped fit (see the fit script's docstring).
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np
from ase.io import read, write

from nafill.structures.capacity import pore_capacity
from nafill.structures.geometry import guest_indices
from nafill.structures.moves import cluster_signature
from nafill.structures.pores import cavity, orifice
from nafill.workflows.backends.base import FrozenHostBackend
from nafill.workflows.backends.surrogate.label_sevennet import (
    DEFAULT_OUT,
    HELDOUT_SPACINGS_NM,
    TIGHT_FMAX_EV_A,
    Labeller,
    labelled_file,
    naive_candidate,
)
from nafill.workflows.backends.surrogate.model import NaCarbonSurrogate, SurrogateParameters
from nafill.workflows.engine.ladder import diverse_order
from nafill.workflows.engine.loop import fill, start_path
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.steps import PoreFullError, complete_step, distinct_minima, plan_step, usable_energies

PORES = ((1.05, 8), (1.48, 12), (2.18, 10), (0.40, 8), (0.70, 8), (0.55, 6))

DRIFT_FILLS = {"fill_c135": 6, "fill_c148": 6, "fill_c162": 6, "fill_c200": 6, "fill_c218": 6, "fill_c095": 6,
               "fill_o040": 1, "fill_o047": 1, "fill_o050": 1, "fill_o055": 1, "fill_o062": 1, "fill_o065": 1,
               "fill_o070": 1}
"""``--drift``: committed SevenNet-0 training fills and the first Na count whose structures are used."""


def host_frame(lab: Labeller, host, round_: str, spacing_nm: float):
    """The empty pore labelled for a round (kind ``"fill-host"``): the fit's E(host) for every frame
    of that host, so a round's file is whole on its own."""
    return lab.label(host, task=f"active{round_}", kind="fill-host", split="train", n_na=0, spacing_nm=spacing_nm)


def drift_frames(lab: Labeller, sur: FrozenHostBackend, fills: dict[str, int], round_: str,
                 min_shift_A: float = 0.3, fmax_eV_A: float = 0.05) -> list:
    """Label where the surrogate *drifts* from SevenNet-0's own minima: every relaxed candidate of
    the committed training fills (from ``fills[name]`` Na on; orifices: the kept ones), relaxed
    again by the surrogate; the end point is labelled, and the midpoint too when a Na moved more
    than ``min_shift_A``. A spurious downhill valley of the surrogate (measured on the held-out
    1.82 nm path from 12 Na: SevenNet-0's minima slide 0.4-1.3 eV down the surrogate's surface into
    structures SevenNet-0 puts 0.4-0.65 eV higher) is found at SevenNet-0's minima themselves.

    A fill is read from ``lab.out`` (e.g. a ``<fill>_tight_all`` run there) or else from the
    committed ``training/`` (:func:`.label_sevennet.labelled_file`); the surrogate relaxes to ``fmax_eV_A``."""
    frames = []
    for name, first in fills.items():
        path = labelled_file(name, lab.out, Path(DEFAULT_OUT))
        if path is None:
            raise FileNotFoundError(f"{name}: neither in {lab.out} nor in {DEFAULT_OUT} (.extxyz or .extxyz.gz)")
        src = read(path, index=":")
        for a in src:
            x = int(a.info.get("n_na", 0) or 0)
            if x < first or not a.info.get("final") or (name.startswith("fill_o") and not a.info.get("kept")):
                continue
            start = a.copy()
            start.calc = None
            r = sur.relax(start, fmax_eV_A, 500)
            end = r.atoms()
            info = dict(task=f"active{round_}", split="train", n_na=x, spacing_nm=a.info.get("spacing_nm"),
                        step=x, source_fill=name)
            frames.append(lab.label(end, kind="active-drift", **info))
            na = guest_indices(end)
            if np.linalg.norm(end.positions[na] - start.positions[na], axis=1).max() > min_shift_A:
                mid = start.copy()
                mid.positions[na] = 0.5 * (start.positions[na] + end.positions[na])
                frames.append(lab.label(mid, kind="active-drift", **info))
        print(f"drift: {name} done, {len(frames)} frames, {lab.n_calls} SevenNet calls", flush=True)
    return frames


def motif_frames(lab: Labeller, sur: FrozenHostBackend, host, max_na: int, round_: str, first_na: int = 3,
                 per_step: int = 4, window_eV: float | None = None, spacing_nm: float | None = None) -> list:
    """Fill ``host`` with the surrogate (single fidelity, the default policy) and, at every step
    from ``first_na`` Na on, label its ``per_step`` relaxed candidates that a fidelity ladder
    would hand to the expensive level first: the lowest, then the lowest of each other motif
    (:func:`nafill.structures.moves.cluster_signature`) within ``window_eV`` (default: the
    policy's ``screen_diversity_eV``), then the next lowest. Each is labelled (``kind =
    "active-motif"``, its motif in ``info``) and relaxed 10 steps by the reference
    (``"active-relax"``, every second frame). The fill keeps what :func:`fill` would keep."""
    policy = FillingPolicy(max_na=min(max_na, pore_capacity(host)), screen_calculator=None)
    window = policy.screen_diversity_eV if window_eV is None else window_eV
    path = start_path(host, sur, policy, use_cache=False)
    frames = []
    while len(path.steps) < policy.max_na:
        try:
            plan = plan_step(path, sur)
            results = sur.relax_many([c.atoms() for c in plan.candidates], policy.fmax_eV_A,
                                     policy.max_relax_steps, policy.workers)
            x = plan.n_na
            if x >= first_na:
                energies = usable_energies(results)
                distinct = distinct_minima(energies)
                minima = [results[k].atoms() for k in distinct]
                signatures = [cluster_signature(a) for a in minima]
                for rank, k in enumerate(diverse_order([energies[j] for j in distinct], signatures, window)[:per_step]):
                    info = dict(task=f"active{round_}", split="train", n_na=x, spacing_nm=spacing_nm, step=x,
                                motif=str(signatures[k]), motif_rank=rank)
                    start = minima[k]
                    start.calc = None
                    frames.append(lab.label(start, kind="active-motif", **info))
                    way, final, _ = lab.relax(start, 0.05, 10, 2, kind="active-relax", **info)
                    frames += way + [final]
            complete_step(path, plan, results)
        except PoreFullError:
            break
    return frames


def naive_frames(lab: Labeller, sur: FrozenHostBackend, host, max_na: int, round_: str, first_na: int = 5,
                 per_step: int = 4, spacing_nm: float | None = None, target: Path | None = None,
                 fmax_eV_A: float = TIGHT_FMAX_EV_A, steps: int = 300, every: int = 5, earlier: list = ()) -> list:
    """Fill ``host`` with the surrogate (single fidelity, the default policy) and, at every step
    ``x`` from ``first_na`` on, add ``per_step`` naive random candidates to its kept structure of
    ``x - 1`` Na and relax each with SevenNet-0 to ``fmax_eV_A`` (kind ``"active-naive"``; every
    ``every``-th frame, ``final = False``, and the end point, ``final = True``). The random
    points are drawn from a generator seeded by the round, the spacing (0.01 nm) and ``x``, so a
    step's candidates do not depend on the steps before it. ``target``: rewritten after each step,
    and once at the end, with ``earlier`` (frames of the round's other pores) and this pore's
    frames so far."""
    policy = FillingPolicy(max_na=min(max_na, pore_capacity(host)), screen_calculator=None)
    path = fill(host, sur, policy, use_cache=False)
    records = path.step_records()
    frames = []
    for x in range(first_na, len(records) + 1):
        base = records[x - 2].atoms() if x >= 2 else host.copy()
        base.calc = None
        rng = np.random.default_rng([sum(map(ord, str(round_))), round(100 * (spacing_nm or 0)), x])
        for k in range(per_step):
            try:
                start = naive_candidate(base, rng)
            except RuntimeError:
                break
            info = dict(task=f"active{round_}", split="train", n_na=x, spacing_nm=spacing_nm, step=x, candidate=k)
            way, final, n = lab.relax(start, fmax_eV_A, steps, every, kind="active-naive", **info)
            frames += way + [final]
            print(f"  naive {spacing_nm} nm x={x} candidate {k}: {final.get_potential_energy():.4f} eV in {n} steps",
                  flush=True)
        if target is not None:
            write(target, [*earlier, *frames], format="extxyz")
    if target is not None and first_na > len(records):  # no step labelled: the host frames still land
        write(target, [*earlier, *frames], format="extxyz")
    return frames


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parameters", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--round", default="1")
    ap.add_argument("--drift", action="store_true",
                    help="label the surrogate's drift from the committed training fills' minima instead of filling")
    ap.add_argument("--pores", nargs="+", metavar="SPACING:MAX_NA",
                    help="training pores to fill, e.g. 1.48:16 2.18:16 (default: " +
                         " ".join(f"{s}:{n}" for s, n in PORES) + ")")
    ap.add_argument("--drift-fills", nargs="+", metavar="NAME:FIRST_NA",
                    help="with --drift: these fills (from --out, else training/) from FIRST_NA on, e.g. "
                         "fill_c135_tight_all:5 (default: the committed training fills, DRIFT_FILLS)")
    ap.add_argument("--drift-fmax", type=float, default=0.05, metavar="EV_A",
                    help="with --drift: the surrogate's force tolerance, eV/A (default 0.05)")
    ap.add_argument("--motifs", action="store_true",
                    help="label, at each step of the surrogate's fills of --pores (cavities), the relaxed "
                         "candidates a fidelity ladder would hand on first (one per motif) instead of the kept one")
    ap.add_argument("--naive", action="store_true",
                    help="label SevenNet-0's own 0.01 eV/A minima from naive random candidates at each step of "
                         "the surrogate's fills of --pores (cavities)")
    ap.add_argument("--naive-first-na", type=int, default=5, metavar="N",
                    help="with --naive: the first Na count labelled (default 5)")
    ap.add_argument("--naive-count", type=int, default=4, metavar="K",
                    help="with --naive: candidates per step, 1-10 (default 4)")
    ap.add_argument("--motif-first-na", type=int, default=3, metavar="N",
                    help="with --motifs: the first Na count labelled (default 3)")
    ap.add_argument("--motif-count", type=int, default=4, metavar="K",
                    help="with --motifs: candidates labelled per step, 1-10 (default 4)")
    args = ap.parse_args(argv)
    if args.drift_fills and not args.drift:
        ap.error("--drift-fills needs --drift")
    if args.motifs + args.drift + args.naive > 1:
        ap.error("--motifs, --drift and --naive are three kinds of round; choose one")
    if args.naive_first_na < 1:
        ap.error(f"--naive-first-na {args.naive_first_na}: must be an integer >= 1")
    if not 1 <= args.naive_count <= 10:
        ap.error(f"--naive-count {args.naive_count}: must be in 1-10")
    if args.motif_first_na < 1:
        ap.error(f"--motif-first-na {args.motif_first_na}: must be an integer >= 1")
    if not 1 <= args.motif_count <= 10:
        ap.error(f"--motif-count {args.motif_count}: must be in 1-10")
    if not (np.isfinite(args.drift_fmax) and 0 < args.drift_fmax <= 0.5):
        ap.error(f"--drift-fmax {args.drift_fmax}: must be in (0, 0.5] eV/A")
    drift_fills = DRIFT_FILLS
    if args.drift_fills:
        try:
            drift_fills = {n: int(k) for n, _, k in (item.rpartition(":") for item in args.drift_fills)}
        except ValueError:
            ap.error(f"--drift-fills {args.drift_fills}: each NAME:FIRST_NA, FIRST_NA an integer >= 1")
        if any(not n or k < 1 for n, k in drift_fills.items()):
            ap.error(f"--drift-fills {args.drift_fills}: each NAME:FIRST_NA, FIRST_NA an integer >= 1")
        held = [n for n in drift_fills if n.startswith(("naive_", "heldout_"))]
        if held:
            ap.error(f"--drift-fills {held}: held-out fills are for validation; choose training fills")
    pores = [(float(p.split(":")[0]), int(p.split(":")[1])) for p in args.pores] if args.pores else PORES
    if any(round(s, 2) in HELDOUT_SPACINGS_NM for s, _ in pores):
        ap.error(f"--pores: {sorted(HELDOUT_SPACINGS_NM)} nm are held out for validation; choose training pores")
    if (args.motifs or args.naive) and any(s < 0.8 for s, _ in pores):
        kind = "--motifs" if args.motifs else "--naive"
        ap.error(f"{kind} --pores {args.pores}: cavities only (spacings >= 0.8 nm)")
    params = SurrogateParameters.from_dict(json.loads(args.parameters.read_text()))
    sur = FrozenHostBackend(partial(NaCarbonSurrogate, params), "surrogate-candidate", {"file": str(args.parameters)})
    lab = Labeller(args.out)
    frames = []
    target = args.out / f"active_{args.round}.extxyz"
    if args.drift:
        write(target, drift_frames(lab, sur, drift_fills, args.round, fmax_eV_A=args.drift_fmax), format="extxyz")
        return
    if args.naive:
        for spacing, max_na in pores:
            host = cavity(spacing)
            frames.append(host_frame(lab, host, args.round, spacing))
            frames += naive_frames(lab, sur, host, max_na, args.round, args.naive_first_na,
                                   args.naive_count, spacing_nm=spacing, target=target, earlier=frames)
            print(f"naive: {spacing} nm done, {len(frames)} frames, {lab.n_calls} SevenNet calls", flush=True)
        return
    if args.motifs:
        for spacing, max_na in pores:
            frames += motif_frames(lab, sur, cavity(spacing), max_na, args.round, args.motif_first_na,
                                   args.motif_count, spacing_nm=spacing)
            write(target, frames, format="extxyz")
            print(f"motifs: {spacing} nm done, {len(frames)} frames, {lab.n_calls} SevenNet calls", flush=True)
        return
    for spacing, max_na in pores:
        host = orifice(spacing) if spacing < 0.8 else cavity(spacing)
        frames.append(host_frame(lab, host, args.round, spacing))
        n = min(max_na, pore_capacity(host))
        path = fill(host, sur, FillingPolicy(max_na=n, screen_calculator=None), use_cache=False)
        for st in path.steps:
            x = st["n_na"]
            info = dict(task=f"active{args.round}", split="train", n_na=x, spacing_nm=spacing, step=x)
            kept = path.step_records()[x - 1].atoms()
            frames.append(lab.label(kept, kind="active-kept", **info))
            kept_frames, final, _ = lab.relax(kept, 0.05, 10, 2, kind="active-relax", **info)
            frames += kept_frames + [final]
        write(target, frames, format="extxyz")
        print(f"active learning: {spacing} nm done, {len(frames)} frames, {lab.n_calls} SevenNet calls", flush=True)


if __name__ == "__main__":
    main()
