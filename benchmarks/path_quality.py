"""Target 4: how close the kept structures are to the global minimum, for 1..6 Na in 1.19 nm.

    python benchmarks/path_quality.py [--starts 150]

The global search: for each Na count, ``--starts`` random configurations of Na between the walls
(>= 2.5 A from the walls' atoms and 2.8 A from each other), each relaxed with the same backend;
the lowest energy found is the reference. Reports (E_path - E_global)/x for the default greedy
policy, for beam width 3 and for the greedy policy with 6 perturbed-refinement candidates per step.
"""

import argparse

import numpy as np

from _common import isolate, table

ap = argparse.ArgumentParser()
ap.add_argument("--starts", type=int, default=150)
ap.add_argument("--max-na", type=int, default=6)
args = ap.parse_args()
isolate()
from nafill.structures.geometry import host_indices, min_distances  # noqa: E402
from nafill.structures.pores import cavity  # noqa: E402
from nafill.structures.sites import add_guest  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.engine.loop import fill  # noqa: E402
from nafill.workflows.engine.policy import FillingPolicy  # noqa: E402

backend = get_backend("emt")
host = cavity(1.19)
z0 = host.positions[:, 2].min()
z1 = host.positions[:, 2].max()
greedy = fill(host, backend, FillingPolicy(max_na=args.max_na))
beam = fill(host, backend, FillingPolicy(max_na=args.max_na, beam_width=3))
refined = fill(host, backend, FillingPolicy(max_na=args.max_na, refine_trials=6))
rng = np.random.default_rng(1)
rows = []
for x in range(1, args.max_na + 1):
    best = np.inf
    for _ in range(args.starts):
        a = host
        tries = 0
        while len(a) < len(host) + x and tries < 1000:
            tries += 1
            f = rng.random(2)
            p = f[0] * host.cell[0] + f[1] * host.cell[1]
            p[2] = rng.uniform(z0 + 2.2, z1 - 2.2)
            na = np.where(a.numbers == 11)[0]
            if min_distances(a, [p], host_indices(a))[0] < 2.5 or min_distances(a, [p], na)[0] < 2.8:
                continue
            a = add_guest(a, p)
        r = backend.relax(a, 0.05, 500)
        if r.ok:
            best = min(best, r.energy_eV)
    e_g = greedy.steps[x - 1]["energy_eV"]
    e_b = beam.steps[x - 1]["energy_eV"]
    e_r = refined.steps[x - 1]["energy_eV"]
    rows.append({"x": x, "global_eV": f"{best:.4f}", "greedy-global /x": f"{(e_g - best) / x:+.4f}",
                 "beam3-global /x": f"{(e_b - best) / x:+.4f}", "refine6-global /x": f"{(e_r - best) / x:+.4f}"})
print(f"1.19 nm cavity, emt, {args.starts} random relaxed starts per Na count (target: greedy <= 0.05 eV/Na)")
print(table(rows, ["x", "global_eV", "greedy-global /x", "beam3-global /x", "refine6-global /x"]))
for name, p in (("greedy", greedy), ("beam 3", beam), ("refine 6", refined)):
    print(f"{name}: {np.mean([s['n_relaxed'] for s in p.steps]):.1f} relaxations per Na")
