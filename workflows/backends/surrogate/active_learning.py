"""One round of active learning: label the surrogate's own minima with SevenNet-0.

    python -m nafill.workflows.backends.surrogate.active_learning --parameters FILE [--out DIR]

A fitted surrogate, filling pores on its own, finds the configurations where it is most wrong
(its spurious minima: e.g. Na islands on a wall that SevenNet-0 finds repulsive). This script
fills the *training* pores (never the held-out 1.19/1.82 nm cavities or the 0.45/0.60 nm
orifices) with the surrogate, and labels with SevenNet-0 every kept structure and a short
(10-step) SevenNet-0 relaxation from it (every second frame), which walks from the surrogate's
minimum towards SevenNet-0's: the frames land in ``DIR/active_<round>.extxyz`` with
``split = "train"``. Deterministic (fill seeds, one torch thread); about 12 SevenNet-0 calls per step.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

from ase.io import write

from nafill.structures.capacity import pore_capacity
from nafill.structures.pores import cavity, orifice
from nafill.workflows.backends.base import FrozenHostBackend
from nafill.workflows.backends.surrogate.label_sevennet import DEFAULT_OUT, HELDOUT_SPACINGS_NM, Labeller
from nafill.workflows.backends.surrogate.model import NaCarbonSurrogate, SurrogateParameters
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.policy import FillingPolicy

PORES = ((1.05, 8), (1.48, 12), (2.18, 10), (0.40, 8), (0.70, 8), (0.55, 6))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parameters", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--round", default="1")
    ap.add_argument("--pores", nargs="+", metavar="SPACING:MAX_NA",
                    help="training pores to fill, e.g. 1.48:16 2.18:16 (default: " +
                         " ".join(f"{s}:{n}" for s, n in PORES) + ")")
    args = ap.parse_args(argv)
    pores = [(float(p.split(":")[0]), int(p.split(":")[1])) for p in args.pores] if args.pores else PORES
    if any(round(s, 2) in HELDOUT_SPACINGS_NM for s, _ in pores):
        ap.error(f"--pores: {sorted(HELDOUT_SPACINGS_NM)} nm are held out for validation; choose training pores")
    params = SurrogateParameters.from_dict(json.loads(args.parameters.read_text()))
    sur = FrozenHostBackend(partial(NaCarbonSurrogate, params), "surrogate-candidate", {"file": str(args.parameters)})
    lab = Labeller(args.out)
    frames = []
    target = args.out / f"active_{args.round}.extxyz"
    for spacing, max_na in pores:
        host = orifice(spacing) if spacing < 0.8 else cavity(spacing)
        frames.append(lab.label(host, task=f"active{args.round}", kind="fill-host", split="train", n_na=0,
                                spacing_nm=spacing))
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
