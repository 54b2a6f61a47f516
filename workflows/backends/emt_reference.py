"""Reference (plain, unoptimised) implementation of the ``emt`` surrogate, for verification.

Same model as :class:`~nafill.workflows.backends.emt_surrogate.NaCarbonEMT`, computed the
straightforward way: ASE's own ``EMT`` calculator on the Na sub-system (with nafill's Na parameters
placed in ASE's table for the duration of the call) plus pair sums over ASE neighbour lists, with
no caching and no vectorised image tricks. Tests require the fast calculator to equal this one to
1e-8 eV (energies) on random configurations; ``benchmarks/eval_cost.py`` compares their speed.
"""

from __future__ import annotations

import contextlib

import numpy as np
from ase import Atoms
from ase.calculators import emt as ase_emt
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list

from nafill.constants import WALL_ARRAY
from nafill.workflows.backends.emt_surrogate import (
    NA_EMT_PARAMETERS,
    NA_HOST_MORSE,
    PAIR_SWITCH_A,
    WALL_LJ,
    morse_switched,
)


@contextlib.contextmanager
def _na_in_ase_table(params):
    old = ase_emt.parameters.get("Na")
    ase_emt.parameters["Na"] = tuple(params)
    try:
        yield
    finally:
        if old is None:
            ase_emt.parameters.pop("Na", None)
        else:
            ase_emt.parameters["Na"] = old


class NaCarbonEMTReference(Calculator):
    """Plain reference for the emt surrogate (energy and forces on every atom)."""

    implemented_properties = ["energy", "free_energy", "forces"]
    nolabel = True

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        na = np.where(a.numbers == 11)[0]
        host = np.where(a.numbers != 11)[0]
        energy = 0.0
        forces = np.zeros((len(a), 3))
        if len(na):
            sub = Atoms(numbers=a.numbers[na], positions=a.positions[na], cell=a.cell, pbc=a.pbc)
            with _na_in_ase_table(NA_EMT_PARAMETERS):
                sub.calc = ase_emt.EMT(asap_cutoff=True)
                energy += sub.get_potential_energy()
                forces[na] += sub.get_forces()
        if len(host) and len(na):
            r_on, r_off = PAIR_SWITCH_A
            i, j, D, d = neighbor_list("ijDd", a, r_off)
            for ii, jj, dd, rr in zip(i, j, D, d):
                if a.numbers[ii] != 11 or a.numbers[jj] == 11:
                    continue  # Na (i) - host (j) pairs, each once
                sym = a.get_chemical_symbols()[jj]
                e, dedr = morse_switched(np.array([rr]), *NA_HOST_MORSE[sym], r_on, r_off)
                energy += float(e[0])
                f = float(dedr[0]) / rr * dd
                forces[ii] += f
                forces[jj] -= f
        if WALL_ARRAY in a.arrays and len(host):
            eps, sigma, rcut = WALL_LJ
            walls = a.arrays[WALL_ARRAY]
            i, j, D, d = neighbor_list("ijDd", a, rcut)
            sc6 = (sigma / rcut) ** 6
            for ii, jj, dd, rr in zip(i, j, D, d):
                if not (a.numbers[ii] == 6 and a.numbers[jj] == 6 and walls[ii] == 1 and walls[jj] == 2):
                    continue
                sr6 = (sigma / rr) ** 6
                energy += 4 * eps * (sr6 * sr6 - sr6) - 4 * eps * (sc6 * sc6 - sc6)
                dedr = 4 * eps * (-12 * sr6 * sr6 + 6 * sr6) / rr
                f = dedr / rr * dd
                forces[ii] += f
                forces[jj] -= f
        self.results["energy"] = self.results["free_energy"] = float(energy)
        self.results["forces"] = forces
