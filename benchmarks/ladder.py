"""Issue 13's table: the fidelity ladder (mlip expensive, surrogate cheap) against the naive search.

    python benchmarks/ladder.py [--pores 1.19:8 1.82:16] [--no-compare-learning] [--no-hessian] [--parameters FILE] [--out DIR]

For each pore: a fill with the default policy (``screen=auto``: the surrogate searches, mlip
relaxes the best few) with the run-learned correction and, unless ``--no-compare-learning``,
without it. ``--no-hessian``: the expensive relaxations start from BFGS's default curvature
instead of the cheap level's Hessian (the rule before session 6). Prints per x: H(x) of the ladder, of the naive reference (10 random candidates per
step, each relaxed with mlip: ``benchmarks/naive_reference.json``, written by
``benchmarks/naive_reference.py`` from the committed held-out SevenNet-0 fills), the
difference, mlip evaluations per step, whether the cheap first choice was kept; then totals:
mlip evaluations per Na, agreement, wall time. mlip's mu_Na and E(host) are the ones of the
naive reference (``sevennet_reference.json``, the naive runs' host frames), so H compares directly.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import isolate, table

ap = argparse.ArgumentParser()
ap.add_argument("--pores", nargs="+", default=["1.19:8", "1.82:16"])
ap.add_argument("--no-compare-learning", action="store_true")
ap.add_argument("--no-hessian", action="store_true", help="policy screen_hessian=False")
ap.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                help="other FillingPolicy fields (integers), e.g. screen_max=5 beam_width=2")
ap.add_argument("--threads", type=int, default=2, help="torch threads for SevenNet-0 (default 2)")
ap.add_argument("--parameters", type=Path, default=None, metavar="FILE",
                help="the cheap level's surrogate parameter file instead of the shipped one (e.g. a candidate fit; "
                     "the policy's screen_options)")
ap.add_argument("--out", type=Path, default=None,
                help="keep the run folders here (a rerun with the same folder resumes them: finished fills cost nothing)")
args = ap.parse_args()
if args.parameters is not None and not args.parameters.is_file():
    ap.error(f"--parameters: no such parameter file: {args.parameters}")
tmp = isolate()
import torch  # noqa: E402

torch.set_num_threads(args.threads)
from nafill.structures.pores import cavity  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.backends.surrogate.validation import sevennet_reference  # noqa: E402
from nafill.workflows.engine.loop import fill  # noqa: E402
from nafill.workflows.engine.policy import FillingPolicy  # noqa: E402

ref7 = sevennet_reference()
mlip = get_backend("mlip")
NAIVE = json.loads((Path(__file__).resolve().parent / "naive_reference.json").read_text())


def naive_reference(spacing: float) -> tuple[list[float], str]:
    """H(x) of the naive search (``benchmarks/naive_reference.json``, from ``naive_reference.py``)."""
    p = NAIVE["pores"].get(f"{spacing:.2f}")
    return (p["h_eV"], f"{p['source']} ({len(p['h_eV'])} Na)") if p else ([], "none")


summary = []
for item in args.pores:
    s, n = item.split(":")
    spacing, max_na = float(s), int(n)
    naive, src = naive_reference(spacing)
    runs = {}
    for learn in ([True] if args.no_compare_learning else [True, False]):
        ladder = {k: int(v) for k, v in (item.split("=") for item in args.set)}
        tag = "".join(f"_{k}{v}" for k, v in ladder.items()) + ("_cold" if args.no_hessian else "")
        out = (args.out or Path(tmp)) / f"c{spacing}_{'learn' if learn else 'raw'}{tag}"
        options = None if args.parameters is None else {"parameters_file": str(args.parameters.resolve())}
        path = fill(cavity(spacing), mlip, FillingPolicy(max_na=max_na, screen_learn=learn, screen_options=options,
                                                         screen_hessian=not args.no_hessian, **ladder), out_dir=out)
        runs[learn] = (path, path.summary["elapsed_s"])  # the run's own clock: a kept --out resumes
    rows = []
    p, _ = runs[True]
    e_host7 = p.reference["e_host_eV"]
    for k, st in enumerate(p.steps):
        x = st["n_na"]
        h = st["energy_eV"] - e_host7 - x * ref7["mu_na_eV"]
        row = {"x": x, "H ladder": f"{h:.3f}", "H naive": f"{naive[k]:.3f}" if k < len(naive) else "-",
               "diff": f"{h - naive[k]:+.3f}" if k < len(naive) else "-",
               "mlip evals": int(st["cost"]["mlip"]["evaluations"]), "mlip relax": st["n_relaxed"],
               "agree": "yes" if st["ladder"]["agree"] else "no"}
        if False in runs:
            q = runs[False][0].steps[k] if k < len(runs[False][0].steps) else None
            row["no-learn evals"] = int(q["cost"]["mlip"]["evaluations"]) if q else "-"
            row["no-learn agree"] = ("yes" if q["ladder"]["agree"] else "no") if q else "-"
        rows.append(row)
    print(f"\n{spacing} nm cavity to {max_na} Na; naive reference: {src}")
    print(table(rows, list(rows[0].keys())))
    for learn, (path, wall) in runs.items():
        steps = path.steps
        diffs = [st["energy_eV"] - e_host7 - st["n_na"] * ref7["mu_na_eV"] - naive[k]
                 for k, st in enumerate(steps) if k < len(naive)]
        summary.append({
            "pore": f"{spacing} nm to {max_na}", "correction": "learned" if learn else "none",
            "mlip evals/Na": f"{path.summary['evaluations_per_na']:.1f}",
            "mlip relax/Na": f"{np.mean([st['n_relaxed'] for st in steps]):.2f}",
            "agree": f"{sum(st['ladder']['agree'] for st in steps)}/{len(steps)}",
            "max(H - naive)": f"{max(diffs):+.3f}" if diffs else "-",
            "mean |pred err| eV": f"{np.mean([abs(st['ladder']['prediction_error_eV']) for st in steps[1:]]):.3f}",
            "wall s": f"{wall:.0f}"})
print("\nsummary (target: <= 40 mlip evaluations per Na; H no more than 0.02 eV above naive at every x)")
print(table(summary, list(summary[0].keys())))
