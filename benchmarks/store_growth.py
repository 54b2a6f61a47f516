"""Store growth: does the 31st identical fill on one store cost what the first did?

    python benchmarks/store_growth.py [--fills 31] [--spacing-nm 1.19] [--max-na 4]

The same fill submitted and run ``--fills`` times on one embedded store, as a shared laptop store
(``$NAFILL_HOME/launchpad_store.json``) is used by ``nafill submit`` + ``nafill run``: each fill
opens the store, adds the workflow, runs it in this process and closes the store (read from and
written back to disk every time). Prints the wall time of the 1st and the last fill side by side,
the medians of the first and last five, and the sizes after every tenth fill: the store file, its
structure files, the archive of finished fills; then ``nafill status``'s row count and time.
The engine's overhead against the in-process loop: ``benchmarks/fireworks_overhead.py``.
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


def _size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fills", type=int, default=31)
    ap.add_argument("--spacing-nm", type=float, default=1.19)
    ap.add_argument("--max-na", type=int, default=4)
    args = ap.parse_args()
    isolate()

    from nafill.structures.pores import cavity
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.engine.references import references
    from nafill.workflows.fireworks.archive import archive_dir
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.launchpad import embedded_store_path, open_launchpad
    from nafill.workflows.fireworks.runner import path_document, run_launchpad, workflow_status
    from nafill.workflows.fireworks.structure_refs import structures_dir

    host = cavity(args.spacing_nm)
    references(get_backend("emt"), host)  # every fill reads the cached references
    store = embedded_store_path()
    times, sizes = [], {}
    energies = None
    for k in range(1, args.fills + 1):
        t0 = time.perf_counter()
        with open_launchpad() as lp:
            wf_id = min(lp.add_wf(filling_workflow(host, "emt", policy=FillingPolicy(max_na=args.max_na))).values())
            run_launchpad(lp)
            path = path_document(lp, wf_id)
        times.append(time.perf_counter() - t0)
        e = [s["energy_eV"] for s in path.steps]
        assert len(e) == args.max_na and (energies is None or e == energies), "the fills differ"
        energies = e
        if k % 10 == 0 or k == 1:
            sizes[k] = (_size(store), _size(structures_dir(store)), _size(archive_dir(store)))
    t0 = time.perf_counter()
    with open_launchpad() as lp:
        rows = workflow_status(lp)
    t_status = time.perf_counter() - t0
    print(f"{args.fills} identical fills (cavity {args.spacing_nm} nm, {args.max_na} Na, emt) on one embedded store")
    print(f"  fill 1: {times[0]:.2f} s   fill {args.fills}: {times[-1]:.2f} s")
    print(f"  median of fills 1-5: {statistics.median(times[:5]):.2f} s   of fills "
          f"{args.fills - 4}-{args.fills}: {statistics.median(times[-5:]):.2f} s")
    print("  all fills (s): " + " ".join(f"{t:.2f}" for t in times))
    for k, (s, st, ar) in sizes.items():
        print(f"  after fill {k:>2}: store {s / 1e3:7.1f} kB, its structure files {st / 1e3:6.1f} kB, "
              f"archive of finished fills {ar / 1e6:5.2f} MB")
    print(f"  nafill status: {len(rows)} workflows listed in {t_status:.2f} s")


if __name__ == "__main__":
    main()
