"""Targets 5 and 6: both cores for candidate relaxations, and time per step against size.

    python benchmarks/parallel_and_scaling.py

* the same fill with 1 and 2 worker processes (same path required), wall times and speed-up;
* time per step against the Na count (1.82 nm, 4x4) and against the lateral cell (4x4, 6x6).
"""

import time

import numpy as np

from _common import isolate, table

isolate()
from nafill.structures.pores import cavity  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.engine.loop import fill  # noqa: E402
from nafill.workflows.engine.policy import FillingPolicy  # noqa: E402
from nafill.workflows.engine.references import references  # noqa: E402

b = get_backend("emt")
for sc in ((4, 4), (6, 6)):
    references(b, cavity(1.82, sc))  # not timed
times = {}
paths = {}
for workers in (1, 2):
    t0 = time.perf_counter()
    paths[workers] = fill(cavity(1.82), b, FillingPolicy(max_na=24, workers=workers, prescreen=8))
    times[workers] = time.perf_counter() - t0
same = [s["energy_eV"] for s in paths[1].steps] == [s["energy_eV"] for s in paths[2].steps]
print(f"parallel (1.82 nm, 24 Na, 8 relaxations per step): 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s, "
      f"speed-up {times[1] / times[2]:.2f}x, identical path: {same}")
rows = []
steps = paths[1].steps
for lo, hi in ((1, 6), (7, 12), (13, 18), (19, 24)):
    w = [s["wall_s"] for s in steps if lo <= s["n_na"] <= hi]
    rows.append({"Na": f"{lo}-{hi}", "s/step": f"{np.mean(w):.3f}"})
print("time per step against the Na count (4x4, 1 worker):")
print(table(rows, ["Na", "s/step"]))
rows = []
for sc in ((4, 4), (6, 6)):
    p = fill(cavity(1.82, sc), b, FillingPolicy(max_na=10))
    rows.append({"cell": f"{sc[0]}x{sc[1]}", "n_C": 4 * sc[0] * sc[1] * 2 // 2,
                 "s/step (1-10 Na)": f"{np.mean([s['wall_s'] for s in p.steps]):.3f}"})
print("time per step against the lateral cell (10 Na):")
print(table(rows, ["cell", "n_C", "s/step (1-10 Na)"]))
