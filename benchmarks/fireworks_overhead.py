"""Orchestration overhead: the same fill through FireWorks (embedded LaunchPad) and in process.

    python benchmarks/fireworks_overhead.py [--spacing-nm 1.19] [--max-na 8] [--pairs 3] [--profile FILE]

Each pair runs the fill twice, as ``nafill fill`` runs it with each engine: the in-process loop
(``--engine local``: ``fill(..., out_dir=...)``, path.json + path.extxyz written after every
step) and the FireWorks engine (the default: the run folder's own embedded store, every Firework
launched in this process, a durable store write per completed step, the same run-folder files).
The order alternates between pairs (drift on a shared machine hits both engines alike); the
reference energies are computed once beforehand. Prints both wall times per pair, their ratio,
the median ratio, the number of Fireworks, and checks that the paths are identical.
``--no-out`` runs the in-process loop without a run folder (how this benchmark measured before).
``--profile FILE`` writes a cProfile of one more FireWorks run (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import isolate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spacing-nm", type=float, default=1.19)
    ap.add_argument("--max-na", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--no-out", action="store_true", help="in-process loop without a run folder")
    ap.add_argument("--profile", default=None, help="write a cProfile of one FireWorks run here")
    args = ap.parse_args()
    tmp = Path(isolate())

    from nafill.structures.pores import cavity
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.engine.references import references
    from nafill.workflows.fireworks.launchpad import open_launchpad
    from nafill.workflows.fireworks.runner import fill_on_launchpad

    host = cavity(args.spacing_nm)
    references(get_backend("emt"), host)  # both engines read the cached references

    def local(k):
        t0 = time.perf_counter()
        path = fill(host, get_backend("emt"), FillingPolicy(max_na=args.max_na),
                    out_dir=None if args.no_out else tmp / f"local{k}")
        return time.perf_counter() - t0, path

    n_fw = {}

    def fireworks(k):
        out = tmp / f"fw{k}"
        t0 = time.perf_counter()
        path = fill_on_launchpad(host, "emt", {}, FillingPolicy(max_na=args.max_na).validate(), out, False, None,
                                 lambda *a: None)
        dt = time.perf_counter() - t0
        with open_launchpad(None, store=out) as lp:
            n_fw["n"] = lp.fireworks.count_documents({})
        return dt, path

    print(f"fill: cavity {args.spacing_nm} nm, {args.max_na} Na, emt; in-process loop "
          f"{'without' if args.no_out else 'with'} a run folder")
    ratios = []
    for k in range(args.pairs):
        if k % 2 == 0:
            t_local, ref = local(k)
            t_fw, path = fireworks(k)
        else:
            t_fw, path = fireworks(k)
            t_local, ref = local(k)
        same = [s["energy_eV"] for s in path.steps] == [s["energy_eV"] for s in ref.steps] and [
            s["structure"] for s in path.steps] == [s["structure"] for s in ref.steps]
        ratios.append(t_fw / t_local)
        print(f"pair {k + 1}: in-process {t_local:6.2f} s, FireWorks ({n_fw['n']} Fireworks) {t_fw:6.2f} s, "
              f"ratio {t_fw / t_local:.2f}, "
              f"identical paths: {same}", flush=True)
    print(f"median ratio FireWorks / in-process over {args.pairs} pairs: {statistics.median(ratios):.2f}")
    if args.profile:
        import cProfile

        pr = cProfile.Profile()
        pr.enable()
        fireworks("profile")
        pr.disable()
        pr.dump_stats(args.profile)
        print(f"profile of one FireWorks run written to {args.profile}")


if __name__ == "__main__":
    main()
