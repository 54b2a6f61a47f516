"""Multi-fidelity screening: cheap emt relaxations choose which candidates mlip relaxes.

    python benchmarks/screening.py [--max-na 4] [--candidates 8] [--keep 2]

Fills a 1.19 nm cavity with the expensive backend (mlip, SevenNet-0) twice: exhaustively (every
considered candidate relaxed with mlip) and screened (all relaxed with emt first, the best
``--keep`` sent to mlip from the emt geometry). For each step of the exhaustive path the screened
policy chooses from the same parent; prints the expensive relaxations saved per step and the
fraction of steps where the screened choice equals the exhaustive one (within 5 meV).
"""

import argparse
import time

from _common import isolate, path_before_step

ap = argparse.ArgumentParser()
ap.add_argument("--max-na", type=int, default=4)
ap.add_argument("--candidates", type=int, default=8)
ap.add_argument("--keep", type=int, default=2)
args = ap.parse_args()
isolate()
from nafill.structures.pores import cavity  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.engine.loop import fill  # noqa: E402
from nafill.workflows.engine.policy import FillingPolicy  # noqa: E402
from nafill.workflows.engine.steps import plan_step  # noqa: E402

mlip = get_backend("mlip")
host = cavity(1.19)
exh = FillingPolicy(max_na=args.max_na, n_candidates=args.candidates, prescreen=None)
scr = FillingPolicy(max_na=args.max_na, n_candidates=args.candidates, screen_calculator="emt", screen_keep=args.keep)
t0 = time.perf_counter()
p_ex = fill(host, mlip, exh)
t_ex = time.perf_counter() - t0
agree, saved, rows = 0, [], []
t_scr = 0.0
for k, step in enumerate(p_ex.steps):
    parent = path_before_step(p_ex, k, scr)
    t0 = time.perf_counter()
    plan = plan_step(parent, mlip)
    res = mlip.relax_many([c.atoms() for c in plan.candidates], scr.fmax_eV_A, scr.max_relax_steps)
    t_scr += time.perf_counter() - t0
    best = min(r.energy_eV for r in res if r.ok)
    same = abs(best - step["energy_eV"]) < 5e-3
    agree += same
    saved.append(plan.n_considered - len(plan.candidates))
    print(f"step {k + 1}: considered {plan.n_considered}, mlip relaxations {len(plan.candidates)} "
          f"(saved {saved[-1]}), same choice as exhaustive: {same} (dE = {best - step['energy_eV']:+.4f} eV)")
n = len(p_ex.steps)
print(f"agreement fraction: {agree}/{n} = {agree / n:.0%}; saved mlip relaxations per step: {sum(saved) / n:.1f}")
print(f"time: exhaustive {t_ex:.0f} s, screened {t_scr:.0f} s (same parents)")
