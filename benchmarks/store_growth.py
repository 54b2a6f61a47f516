"""Store growth and engine cost: does the 31st fill on one store cost what the first did?

    python benchmarks/store_growth.py [--fills 31] [--spacing-nm 1.05] [--max-na 4] [--pairs 3]

Part 1: the same fill submitted and run ``--fills`` times on one embedded store (``nafill submit``
+ ``nafill run`` in process, as a shared laptop store is used); prints the wall time of the 1st
and the last, the median of the first and last five, and the store's size after each tenth fill.

Part 2: the FireWorks engine (as ``nafill fill`` runs it: the run folder's own store, a durable
write per completed step) against the in-process loop on the same fill (1.19 nm to 8 Na),
``--pairs`` paired runs, median ratio; the paths must be identical.
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
    ap.add_argument("--fills", type=int, default=31)
    ap.add_argument("--spacing-nm", type=float, default=1.05)
    ap.add_argument("--max-na", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(isolate())

    from nafill.structures.pores import cavity
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.engine.references import references
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.launchpad import embedded_store_path, open_launchpad
    from nafill.workflows.fireworks.runner import fill_on_launchpad, path_document, run_launchpad

    host = cavity(args.spacing_nm)
    references(get_backend("emt"), host)
    times, sizes = [], {}
    for k in range(1, args.fills + 1):
        t0 = time.perf_counter()
        with open_launchpad() as lp:
            wf_id = min(lp.add_wf(filling_workflow(host, "emt", policy=FillingPolicy(max_na=args.max_na))).values())
            run_launchpad(lp)
            assert len(path_document(lp, wf_id).steps) == args.max_na
        times.append(time.perf_counter() - t0)
        if k % 10 == 0 or k == 1:
            sizes[k] = embedded_store_path().stat().st_size
    print(f"part 1: {args.fills} identical fills (cavity {args.spacing_nm} nm, {args.max_na} Na, emt) on one store")
    print(f"  1st fill {times[0]:.2f} s, fill {args.fills}: {times[-1]:.2f} s")
    print(f"  median of fills 1-5: {statistics.median(times[:5]):.2f} s, of fills "
          f"{args.fills - 4}-{args.fills}: {statistics.median(times[-5:]):.2f} s")
    print("  store size: " + ", ".join(f"after {k}: {v / 1e6:.2f} MB" for k, v in sizes.items()))

    host = cavity(1.19)
    policy = dict(max_na=8)
    references(get_backend("emt"), host)
    ratios = []
    for pair in range(args.pairs):
        t0 = time.perf_counter()
        ref = fill(host, get_backend("emt"), FillingPolicy(**policy))
        t_local = time.perf_counter() - t0
        out = tmp / f"fw{pair}"
        t0 = time.perf_counter()
        path = fill_on_launchpad(host, "emt", {}, FillingPolicy(**policy).validate(), out, False, None,
                                 lambda *a: None)
        t_fw = time.perf_counter() - t0
        same = [s["energy_eV"] for s in path.steps] == [s["energy_eV"] for s in ref.steps]
        ratios.append(t_fw / t_local)
        print(f"part 2 pair {pair + 1}: in-process {t_local:.2f} s, FireWorks {t_fw:.2f} s, ratio "
              f"{t_fw / t_local:.2f}, identical paths: {same}")
    if ratios:
        print(f"  median ratio FireWorks / in-process (1.19 nm, 8 Na): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
