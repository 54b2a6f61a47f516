"""Orchestration overhead: the same fill through FireWorks (embedded LaunchPad) and in process.

    python benchmarks/fireworks_overhead.py [--spacing-nm 1.19] [--max-na 12]

Prints both wall times, their ratio, the number of Fireworks, and checks the paths are identical.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spacing-nm", type=float, default=1.19)
    ap.add_argument("--max-na", type=int, default=12)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nafill_bench_")
    os.environ["NAFILL_LAUNCHPAD_STORE"] = os.path.join(tmp, "store.json")
    os.environ["NAFILL_CACHE_DIR"] = os.path.join(tmp, "cache")

    from nafill.structures.pores import cavity
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.fireworks.runner import path_document, run_launchpad
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.launchpad import open_launchpad
    from nafill.workflows.engine.references import references

    host = cavity(args.spacing_nm)
    references(get_backend("emt"), host)  # warm the reference cache for both runs
    t0 = time.perf_counter()
    ref = fill(host, get_backend("emt"), FillingPolicy(max_na=args.max_na))
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open_launchpad() as lp:
        wf_id = min(lp.add_wf(filling_workflow(host, "emt", policy=FillingPolicy(max_na=args.max_na))).values())
        n_fw = run_launchpad(lp)
        path = path_document(lp, wf_id)
    t_fw = time.perf_counter() - t0
    same = [s["energy_eV"] for s in path.steps] == [s["energy_eV"] for s in ref.steps]
    print(f"fill: cavity {args.spacing_nm} nm, {args.max_na} Na, emt")
    print(f"in-process engine : {t_local:7.2f} s")
    print(f"FireWorks (embedded, {n_fw} Fireworks): {t_fw:7.2f} s")
    print(f"overhead ratio FireWorks / in-process: {t_fw / t_local:.2f}")
    print(f"per-Firework overhead: {(t_fw - t_local) / n_fw * 1000:.0f} ms")
    print(f"identical paths: {same}")


if __name__ == "__main__":
    main()
