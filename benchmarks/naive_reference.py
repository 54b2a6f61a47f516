"""The naive reference of issue 13: SevenNet-0 H(x) of the 1.19 nm and 1.82 nm
cavities (16 Na each), written to ``benchmarks/naive_reference.json`` for ``benchmarks/ladder.py``.

    python benchmarks/naive_reference.py

The naive rule (``../shared/science.md``): at each step 10 random positions between the walls
(>= 2.2 A from the carbon, >= 2.8 A from the Na already placed, within 4 A of some atom), each relaxed with SevenNet-0
(BFGS, carbon frozen, fmax 0.05 eV/A, at most 300 steps); the lowest is kept. The runs are the
held-out fills ``naive_c119`` and ``naive_c182`` of
``python -m nafill.workflows.backends.surrogate.label_sevennet --part heldout`` (deterministic
seeds 119 and 182; a cut-short fill resumes after its last finished step). This script only
reads their summaries (``workflows/backends/surrogate/training/naive_*.json``), so it needs no
SevenNet run. H(x) = E(x) - E(host) - x mu_Na, mu_Na from SevenNet-0's relaxed bcc Na
(``sevennet_reference.json``). Also printed: SevenNet-0 calls per Na of the naive search.
"""

import json
from pathlib import Path

from nafill.workflows.backends.surrogate.validation import TRAINING_DIR, sevennet_reference

OUT = Path(__file__).resolve().parent / "naive_reference.json"

ref = sevennet_reference()
doc = {"rule": "10 random candidates per step, each relaxed with SevenNet-0 to 0.05 eV/A, lowest kept",
       "mu_na_eV": ref["mu_na_eV"], "pores": {}}
for name in ("naive_c119", "naive_c182"):
    d = json.loads((TRAINING_DIR / f"{name}.json").read_text())
    h = [s["energy_eV"] - d["e_host_eV"] - s["n_na"] * ref["mu_na_eV"] for s in d["steps"]]
    calls = [s["calls"] for s in d["steps"]]
    doc["pores"][f"{d['spacing_nm']:.2f}"] = {"source": f"workflows/backends/surrogate/training/{name}.json",
                                              "h_eV": [round(v, 4) for v in h], "sevennet_calls": calls}
    print(f"{d['spacing_nm']:.2f} nm: {len(h)} Na, {sum(calls) / len(calls):.0f} SevenNet-0 calls per Na")
    print("  H(x) eV: " + " ".join(f"{v:.3f}" for v in h))
OUT.write_text(json.dumps(doc, indent=1) + "\n")
print(f"wrote {OUT}")
