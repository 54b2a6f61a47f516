"""Target 2 (and 6, first half): cost of one energy+forces call of the emt surrogate.

    python benchmarks/eval_cost.py

Prints ms per call on 64 C + n Na (n = 1..34) for the fast calculator (host terms cached, Na terms
vectorised) and the plain ASE-based reference, the largest difference between them, and the cost on
a 6x6 cell (144 C) to show that it follows the Na count, not the atom count.
"""

import time

import numpy as np

from _common import isolate, table

isolate()
from nafill.structures.na_layers import na_layers_model  # noqa: E402
from nafill.workflows.backends.emt_reference import NaCarbonEMTReference  # noqa: E402
from nafill.workflows.backends.emt_surrogate import NaCarbonEMT  # noqa: E402


def per_call_ms(atoms, calc, n=60):
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.get_forces()
    na = np.where(atoms.numbers == 11)[0]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(n):
        atoms.positions[na] += rng.normal(0, 1e-3, (len(na), 3))
        atoms.get_forces()
    return (time.perf_counter() - t0) / n * 1000


rows = []
for supercell, layers in (((4, 4), 5), ((6, 6), 2)):
    model = na_layers_model(layers, supercell)
    n_c = int((model.numbers == 6).sum())
    na_all = np.where(model.numbers == 11)[0]
    for n_na in (1, 8, 17, 34):
        if n_na > len(na_all):
            continue
        keep = list(range(n_c)) + list(na_all[:n_na])
        a = model[keep]
        fast = per_call_ms(a, NaCarbonEMT())
        ref = per_call_ms(a, NaCarbonEMTReference(), n=10)
        a1 = a.copy(); a1.calc = NaCarbonEMT()
        a2 = a.copy(); a2.calc = NaCarbonEMTReference()
        de = abs(a1.get_potential_energy() - a2.get_potential_energy())
        rows.append({"cell": f"{supercell[0]}x{supercell[1]}", "n_C": n_c, "n_Na": n_na, "fast_ms": f"{fast:.2f}",
                     "reference_ms": f"{ref:.1f}", "speedup": f"{ref / fast:.0f}x", "|dE| eV": f"{de:.1e}"})
print(table(rows, ["cell", "n_C", "n_Na", "fast_ms", "reference_ms", "speedup", "|dE| eV"]))
print("target: <= 10 ms per call on 64 C + 34 Na; equal to the reference to 1e-8 eV")
