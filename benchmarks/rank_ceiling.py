"""Issue 12's ranking row against its ceiling: SevenNet-0 ranking its own held-out minima from
rattled starts, beside the surrogate from the same starts.

    python benchmarks/rank_ceiling.py [--rattle-A 0.05] [--fills naive_c119 ...] [--steps 6 8 ...]
                                      [--seed 0] [--threads 1] [--parameters FILE]
                                      [--direction surrogate] [--line-scan] [--relax-on]

The ranking row of ``surrogate_accuracy.py`` relaxes SevenNet-0's 0.01 eV/A candidates of a
held-out step with the surrogate and ranks the ends against SevenNet-0's energies. Here each
candidate's Na are first displaced by Gaussian noise of ``--rattle-A`` per coordinate (seeded by
``--seed``, the step and the candidate), then relaxed to 0.01 eV/A by SevenNet-0 itself and by the
surrogate: how far from its minima the reference still finds them again (its own rho, same lowest,
largest slide), the bar's ceiling at that distance; and the surrogate from the same starts.
``--direction surrogate`` (session 21): each start is instead displaced by the same RMS along the
straight line to where the surrogate's own relaxation of the candidate ends, the direction in
which the surrogate leaves SevenNet-0's minima (``validation.displaced_toward``); the surrogate's
column then starts on its own way down and comes close to the row (session 21, 1.19 nm steps
1-12, 14, 15: 0.576 against 0.587; 1.82 nm: 0.919 against 0.897). 64 min of one core for the 16
steps of 1.19 nm, beside other jobs; 4-7 min per step from 6 Na on. ``--line-scan``: for every candidate the
surrogate slides from by more than 0.1 eV, SevenNet-0's energy along the straight line from its
minimum to the surrogate's end (``validation.line_energies``; 9 SevenNet-0 calls each): the largest rise before
the line first drops below the minimum bounds from above the barrier that holds SevenNet-0 there.
``--relax-on`` (session 22; with ``--rattle-A 0`` alone): SevenNet-0 relaxes on to 0.01 eV/A from
every end point of the row's surrogate relaxations, and the row is ranked again against the
energies SevenNet-0 reaches (the lower of that and its own candidate, ``ranking(relax_on=True)``),
beside SevenNet-0's energy+force calls from the surrogate's ends and in the fill itself (the
ladder's use: the surrogate relaxes, SevenNet-0 finishes). Session 22, both cavities, every step:
146 min of one core (run in four parts, two at a time); 1.19 nm rho 0.780 against the reached
energies (the row 0.489), 1.82 nm 0.905 (0.898), 9,409 SevenNet-0 calls from the surrogate's ends
against 24,917 in the fills. (Session 21's and 22's means averaged per-step values rounded to
0.01, each within 0.005; the rows now keep full precision and only the tables round.)
``--fills fill_c135 ...``: the training cavities (their minima are in the fit; three candidates
per step) as a control: whether the surrogate also slides out of minima it was fitted to.
Needs the mlip extra; SevenNet-0 took 5 s (1 Na) to 38 s (11 Na) per candidate of the 1.19 nm
cavity on one torch thread, 85 min for its 16 steps of 10 candidates (session 20, beside other
jobs). Prints one row per step and the means over the steps run (``--steps`` to split a run).
"""

import argparse
import time

import numpy as np

from _common import isolate, table

CAVITY_FILLS = ["naive_c119", "naive_c182"]  # the held-out cavity fills with every candidate at 0.01 eV/A
TRAINING_FILLS = ["fill_c105", "fill_c135", "fill_c148", "fill_c162"]  # in the fit: 3 candidates per step

ap = argparse.ArgumentParser()
ap.add_argument("--rattle-A", type=float, default=0.05,
                help="Na displacement, A RMS per coordinate (default 0.05; 0 with --line-scan: the scans only)")
ap.add_argument("--fills", nargs="+", default=CAVITY_FILLS, choices=CAVITY_FILLS + TRAINING_FILLS,
                help="held-out cavity fills (default: both), or training ones as a control")
ap.add_argument("--steps", type=int, nargs="+", default=None, help="only these Na counts (default: every step)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--threads", type=int, default=1, help="torch threads for SevenNet-0 (default 1)")
ap.add_argument("--parameters", help="a surrogate parameter file instead of the shipped one")
ap.add_argument("--direction", choices=["random", "surrogate"], default="random",
                help="displace at random (Gaussian) or toward the surrogate's relaxed end (default random)")
ap.add_argument("--line-scan", action="store_true",
                help="print SevenNet-0's energy along the line from its minimum to each surrogate slide's end")
ap.add_argument("--relax-on", action="store_true",
                help="SevenNet-0 relaxes on from every surrogate end point; rank against the energies it reaches")
args = ap.parse_args()
if not (np.isfinite(args.rattle_A) and 0 <= args.rattle_A <= 0.5):
    ap.error(f"--rattle-A {args.rattle_A}: must be in (0, 0.5] A, or 0 with --line-scan or --relax-on")
if args.rattle_A == 0 and not (args.line_scan or args.relax_on):
    ap.error("--rattle-A 0: nothing to re-relax; 0 is for --line-scan or --relax-on alone")
if args.threads < 1:
    ap.error(f"--threads must be at least 1 (got {args.threads})")
isolate()
from nafill.errors import NafillInputError  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.backends.surrogate import validation as V  # noqa: E402

try:
    sevennet = get_backend("mlip")
except NafillInputError as exc:
    ap.error(str(exc))
import torch  # noqa: E402  (the mlip extra is there)

torch.set_num_threads(args.threads)
sur = get_backend("surrogate", parameters_file=args.parameters)

def show(rs: list[dict]) -> str:
    """The rows as a table, each float to 0.001 (the rows keep full precision for the means)."""
    return table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rs], list(rs[0]))


LINE_FRACTIONS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0]
rows, scans, plain, reached = [], [], [], []
for name in args.fills:
    fill = V.held_out_fill(name)
    for x in sorted(fill.candidates):
        if args.steps is not None and x not in args.steps:
            continue
        t0 = time.perf_counter()
        row0 = V.ranking(sur, fill, tight=True, steps=[x], reference=sevennet if args.relax_on else None,
                         relax_on=args.relax_on)
        if not row0:
            continue
        (r0,) = row0
        if args.relax_on:
            on, own = np.array(r0["on_evaluations"]), r0["own_evaluations"]
            reached.append({"fill": name, "x": x, "n": r0["n"], "rho_row": r0["rho"],
                            "same_row": int(r0["same_choice"]), "rho_reached": r0["rho_reached"],
                            "same_reached": int(r0["same_choice_reached"]),
                            "miss_reached_eV": r0["miss_reached_eV"],
                            "lower_on": int(sum(d < -0.05 for d in r0["on_drop_eV"])),
                            "higher_on": int(sum(d > 0.05 for d in r0["on_drop_eV"])),
                            "lowest_on_eV": min(r0["on_drop_eV"]),
                            "calls_on": int(on.sum()), "calls_own": "-" if own is None else int(sum(own)),
                            "s": round(time.perf_counter() - t0)})
            print(show(reached[-1:]), flush=True)
        plain.append({"fill": name, "rho": r0["rho"], "same": r0["same_choice"],
                      "slides": sum(d < -0.1 for d in r0["slide_eV"]), "n": r0["n"]})
        if args.rattle_A > 0:
            kw = dict(tight=True, rattle_A=args.rattle_A, seed=args.seed, steps=[x],
                      toward=sur if args.direction == "surrogate" else None)
            (r7,), (rs,) = V.ranking(sevennet, fill, **kw), V.ranking(sur, fill, **kw)
            rows.append({"fill": name, "x": x, "n": r7["n"],
                         "rho_7net_moved": r7["rho"], "same_7net": int(r7["same_choice"]),
                         "slide_7net_eV": min(r7["slide_eV"]),
                         "rho_sur_moved": rs["rho"], "same_sur": int(rs["same_choice"]),
                         "slide_sur_eV": min(rs["slide_eV"]),
                         "rho_row": r0["rho"], "s": round(time.perf_counter() - t0)})
            print(show(rows[-1:]), flush=True)
        if args.line_scan:
            for k, (a, slide) in enumerate(zip(fill.step(x, True), r0["slide_eV"])):
                if slide < -0.1:
                    end = sur.relax(V._bare(a), 0.01, 800).atoms()
                    line = V.line_energies(sevennet, a, end, LINE_FRACTIONS)
                    scans.append({"fill": name, "x": x, "candidate": k, "slide_sur_eV": float(slide),
                                  "bound_7net_eV": V.barrier_bound(line),
                                  "end_7net_eV": float(line[-1])})
                    print(show(scans[-1:]), flush=True)

if reached:
    print("\nSevenNet-0 relaxed on (0.01 eV/A) from every surrogate end point; reached = the lower of that and "
          "its own candidate; calls: SevenNet-0 energy+force evaluations (on: from the surrogate's ends; own: "
          "the fill's, naive start to 0.05 eV/A and on to 0.01)")
    print(show(reached))
    for name in args.fills:
        sel = [r for r in reached if r["fill"] == name]
        if sel:
            own = [r["calls_own"] for r in sel]
            print(f"{name}: {len(sel)} steps; rho against the reached energies {np.mean([r['rho_reached'] for r in sel]):.3f} "
                  f"(same lowest {np.mean([r['same_reached'] for r in sel]):.0%}; the row below); candidates SevenNet-0 "
                  f"finds > 0.05 eV lower from the "
                  f"surrogate's end: {sum(r['lower_on'] for r in sel)} of {sum(r['n'] for r in sel)}, higher "
                  f"{sum(r['higher_on'] for r in sel)}; SevenNet-0 calls from "
                  f"the surrogate's ends {sum(r['calls_on'] for r in sel)}, in the fill "
                  f"{'-' if '-' in own else sum(own)}")
how = "at random" if args.direction == "random" else "toward the surrogate's relaxed end"
if rows:
    print(f"\nstarts displaced {args.rattle_A} A RMS per Na coordinate {how} (seed {args.seed}), 0.01 eV/A on both sides")
    print(show(rows))
for name in args.fills:
    sel, row = [r for r in rows if r["fill"] == name], [r for r in plain if r["fill"] == name]
    if sel:
        print(f"{name}: {len(sel)} steps; mean rho SevenNet-0 from displaced starts "
              f"{np.mean([r['rho_7net_moved'] for r in sel]):.3f} (same lowest {np.mean([r['same_7net'] for r in sel]):.0%}), "
              f"surrogate from the same starts {np.mean([r['rho_sur_moved'] for r in sel]):.3f} "
              f"({np.mean([r['same_sur'] for r in sel]):.0%})")
    if row:
        print(f"{name}, the row (the surrogate re-relaxing SevenNet-0's minima): {len(row)} steps of "
              f"{row[0]['n']} candidates, mean rho {np.mean([r['rho'] for r in row]):.3f}, same lowest "
              f"{np.mean([r['same'] for r in row]):.0%}, slides > 0.1 eV {sum(r['slides'] for r in row)} of "
              f"{sum(r['n'] for r in row)}")
if scans:
    b = np.array([r["bound_7net_eV"] for r in scans])
    e = np.array([r["end_7net_eV"] for r in scans])
    print(f"\n{len(scans)} surrogate slides > 0.1 eV; SevenNet-0 along the straight line to their ends "
          f"(upper bound of its barrier; inf: the line never drops 0.01 eV below its minimum):")
    print(show(scans))
    print(f"bound under 0.026 eV (kT at 300 K) in {np.sum(b < 0.026)} of {len(b)}, median {np.median(b):.3f} eV; "
          f"the end below SevenNet-0's minimum in {np.sum(e < 0)} (median {np.median(e):+.2f} eV)")
