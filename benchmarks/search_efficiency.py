"""Target 3: relaxations per added Na, default policy against the exhaustive one.

    python benchmarks/search_efficiency.py [--spacing-nm 1.82] [--max-na 20]

Exhaustive: every symmetry-distinct candidate relaxed (no pre-screen, no cap). Default: the
FillingPolicy defaults (pre-screen by single points, relax the best 4). For every step of the
exhaustive path the default policy is asked to choose from the same parent structure: "same
site" counts the steps where its lowest relaxed energy equals the exhaustive one, within 1 meV and
within 10 meV (minima that close are degenerate for the path: the emt surrogate has many).
Also prints the final H per Na of both paths.
"""

import argparse

import numpy as np

from _common import isolate, path_before_step

ap = argparse.ArgumentParser()
ap.add_argument("--spacing-nm", type=float, default=1.82)
ap.add_argument("--max-na", type=int, default=20)
args = ap.parse_args()
isolate()
from nafill.structures.pores import cavity  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.engine.loop import fill  # noqa: E402
from nafill.workflows.engine.policy import FillingPolicy  # noqa: E402
from nafill.workflows.engine.steps import plan_step  # noqa: E402

backend = get_backend("emt")
host = cavity(args.spacing_nm)
exhaustive = FillingPolicy(max_na=args.max_na, n_candidates=10000, prescreen=None, refine_trials=0)
default = FillingPolicy(max_na=args.max_na)
p_ex = fill(host, backend, exhaustive)
p_def = fill(host, backend, default)
same = same10 = better = 0
for k, step in enumerate(p_ex.steps):
    parent = path_before_step(p_ex, k, default)  # the default policy's choice from the same parent
    plan = plan_step(parent, backend)
    res = backend.relax_many([c.atoms() for c in plan.candidates], default.fmax_eV_A, default.max_relax_steps)
    best = min(r.energy_eV for r in res if r.ok)
    same += abs(best - step["energy_eV"]) < 1e-3
    same10 += abs(best - step["energy_eV"]) < 1e-2
    better += best < step["energy_eV"] - 1e-2
n = len(p_ex.steps)
rx_ex = np.mean([s["n_relaxed"] for s in p_ex.steps])
rx_def = np.mean([s["n_relaxed"] for s in p_def.steps])
h_ex = p_ex.steps[-1]["formation_enthalpy_eV"] / n
h_def = p_def.steps[-1]["formation_enthalpy_eV"] / len(p_def.steps)
print(f"cavity {args.spacing_nm} nm, {n} Na, emt")
print(f"relaxations per Na: default {rx_def:.2f} (target <= 5), exhaustive {rx_ex:.2f}")
print(f"same kept site as exhaustive (from the same parent, within 1 meV): {same}/{n} = {same / n:.0%}; "
      f"within 10 meV (degenerate minima): {same10}/{n} = {same10 / n:.0%}; lower than exhaustive: {better}/{n}; "
      f"same or better: {(same10 + better) / n:.0%} (target >= 90%)")
print(f"final H per Na: default {h_def:.4f} eV, exhaustive {h_ex:.4f} eV, difference {h_def - h_ex:+.4f} eV "
      "(target |.| <= 0.05)")
