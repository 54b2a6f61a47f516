"""Is the surrogate's "collapse" past 12 Na real or overbinding? (issue 12's 1.82 nm path row)

    python benchmarks/surrogate_overbinding.py [--x 12 13 14 15 16] [--threads 2]

For each Na count x of SevenNet-0's naive 1.82 nm path (held out, committed in ``training/``):
the surrogate relaxes SevenNet-0's structure (the issue's re-relaxation), then SevenNet-0 relaxes
the surrogate's minimum. Prints H (eV) of SevenNet-0's structure, of the surrogate's minimum on the
surrogate, and of that minimum relaxed by SevenNet-0, with the motif (cluster sizes). If SevenNet-0
also puts the surrogate's minimum far below its naive one, the collapse is a better basin; if it
puts it near or above, the surrogate overbinds it by the difference. Needs torch and sevenn; about
one SevenNet-0 relaxation (10-30 calls) per x.
"""

import argparse

from _common import isolate, table

ap = argparse.ArgumentParser()
ap.add_argument("--x", type=int, nargs="+", default=[12, 13, 14, 15, 16])
ap.add_argument("--threads", type=int, default=2, help="torch threads for SevenNet-0")
args = ap.parse_args()
isolate()
import torch  # noqa: E402

torch.set_num_threads(args.threads)
from nafill.structures.moves import cluster_signature  # noqa: E402
from nafill.structures.pores import cavity  # noqa: E402
from nafill.workflows.backends.registry import get_backend  # noqa: E402
from nafill.workflows.backends.surrogate import validation as V  # noqa: E402
from nafill.workflows.engine.references import references  # noqa: E402

sur, mlip = get_backend("surrogate"), get_backend("mlip")
host = cavity(1.82)
ref_s, ref_7 = references(sur, host), V.sevennet_reference()
fill = V.held_out_fill("naive_c182")
rows = []
for x in args.x:
    kept = fill.kept(x)
    h7 = kept.get_potential_energy() - fill.e_host_eV - x * ref_7["mu_na_eV"]
    s = sur.relax(V._bare(kept), 0.05, 300)
    hs = s.energy_eV - ref_s["e_host_eV"] - x * ref_s["mu_na_eV"]
    m = mlip.relax(s.atoms(), 0.05, 300)
    hm = m.energy_eV - fill.e_host_eV - x * ref_7["mu_na_eV"]
    rows.append({"x": x, "H SevenNet-0 naive": f"{h7:.3f}", "H surrogate min (surrogate)": f"{hs:.3f}",
                 "H surrogate min (SevenNet-0)": f"{hm:.3f}", "SevenNet-0 - surrogate eV": f"{hm - hs:+.3f}",
                 "SevenNet-0 steps": m.n_ionic_steps, "motif": str(cluster_signature(m.atoms())[0])})
    print(rows[-1], flush=True)
print("\nsurrogate minima of the held-out 1.82 nm path, re-relaxed by SevenNet-0")
print(table(rows, list(rows[0].keys())))
