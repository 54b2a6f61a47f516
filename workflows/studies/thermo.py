"""Finite-temperature free energies with phonopy (harmonic, finite displacements).

* **bcc Na** (``f_Na(T)``): phonopy on a 4x4x4 supercell of the primitive cell (64 atoms), one
  symmetry-reduced displacement, thermal properties on a 16x16x16 mesh; per atom.
* **Na in a frozen carbon host** (``F_vib(x, T)``): only the Na atoms are displaced, the carbon
  (and H, O) stay fixed, and the force constants are those of the Na sub-system in the field of
  the frozen walls, at the Gamma point of the cell (the cell is the 4x4 supercell already). This
  *frozen-host approximation* drops the host's own vibrations and their coupling to the Na, so
  ``F_vib(host, T) = 0`` and ``G(x, T) = H(x) + F_vib(x, T) - x f_Na(T)``. Symmetry is switched
  off for the Na sub-system (the walls break the symmetry phonopy would see in the Na alone).

Imaginary modes (below ``-imaginary_tol_THz``) are detected and reported, never silently dropped
(phonopy leaves them out of the thermal sums; the report says how many and how soft).

Backends: use ``mlip`` (or VASP) for free energies. The ``emt`` surrogate's bcc Na is dynamically
unstable at short wavelengths (EMT's fcc-based functional), so phonopy finds imaginary modes for
bcc Na with it, and they are reported as such. With SevenNet-0, bcc Na has no imaginary mode and
f_Na(300 K) = -0.080 eV/atom, close to the Debye-model harmonic estimate
3 k T ln(hbar omega_g / k T) = -0.077 eV/atom for theta_D = 156 K (omega_g = e^(-1/3) theta_D).
VASP: :func:`write_displacement_inputs` writes one single-point folder per displaced structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from nafill.errors import NafillInputError, check_range
from nafill.structures.geometry import guest_indices
from nafill.structures.pores import bcc_sodium
from nafill.workflows.backends.vasp.inputs import write_inputs

KJ_PER_MOL_TO_EV = 1.0 / 96.48533212


@dataclass
class VibrationalFreeEnergy:
    """Harmonic vibrational free energy F_vib(T) in eV (of the displaced atoms), with diagnostics."""

    temperatures_K: list[float]
    free_energy_eV: list[float]
    n_atoms_displaced: int
    n_modes: int
    imaginary_modes_THz: list[float] = field(default_factory=list)
    n_displacements: int = 0
    note: str = ""

    @property
    def has_imaginary(self) -> bool:
        return bool(self.imaginary_modes_THz)

    def at(self, temperature_K: float) -> float:
        return float(np.interp(temperature_K, self.temperatures_K, self.free_energy_eV))

    def as_dict(self) -> dict:
        return asdict(self)


def _phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.cell),
                        scaled_positions=atoms.get_scaled_positions())


def _forces_of(calc, atoms: Atoms) -> np.ndarray:
    a = atoms.copy()
    a.set_constraint()
    a.calc = calc
    return a.get_forces()


def _thermal(ph, temperatures, imaginary_tol_THz, exclude_acoustic) -> tuple[list[float], list[float], int]:
    ph.run_thermal_properties(temperatures=list(temperatures))
    free_energy = ph.thermal_properties.free_energy  # kJ/mol per cell
    freqs = np.asarray(ph.mesh.frequencies).ravel()  # THz
    imag = sorted(float(f) for f in freqs if f < -imaginary_tol_THz)
    return [float(x) * KJ_PER_MOL_TO_EV for x in free_energy], imag, len(freqs)


def check_temperatures(temperatures: Sequence[float]) -> list[float]:
    ts = [check_range("temperatures", t, 0.0, 5000.0, "K") for t in temperatures]
    if not ts:
        raise NafillInputError("temperatures must list at least one temperature in K")
    return ts


def bcc_na_free_energy(calc, lattice_A: float, temperatures: Sequence[float], supercell: int = 4,
                       mesh: int = 16, displacement_A: float = 0.01,
                       imaginary_tol_THz: float = 0.05) -> VibrationalFreeEnergy:
    """f_Na(T): harmonic free energy per atom of bcc Na (eV/atom) with the calculator ``calc``."""
    from phonopy import Phonopy

    temps = check_temperatures(temperatures)
    unit = bcc_sodium(lattice_A)
    ph = Phonopy(_phonopy_atoms(unit), supercell_matrix=np.eye(3, dtype=int) * supercell, primitive_matrix=None)
    ph.generate_displacements(distance=displacement_A)
    forces = []
    for sc in ph.supercells_with_displacements:
        a = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        forces.append(_forces_of(calc, a))
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.run_mesh([mesh] * 3, is_gamma_center=True)
    f, imag, n_modes = _thermal(ph, temps, imaginary_tol_THz, True)
    return VibrationalFreeEnergy(temps, [x / len(unit) for x in f], len(unit), n_modes, imag,
                                 len(ph.supercells_with_displacements),
                                 f"bcc Na, a = {lattice_A:.3f} A, {supercell}^3 supercell, {mesh}^3 mesh, per atom")


def frozen_host_free_energy(calc, atoms: Atoms, temperatures: Sequence[float], displacement_A: float = 0.01,
                            imaginary_tol_THz: float = 0.05) -> VibrationalFreeEnergy:
    """F_vib(x, T) of the Na in ``atoms`` with every host atom frozen (Gamma point, eV per cell)."""
    from phonopy import Phonopy

    temps = check_temperatures(temperatures)
    na = guest_indices(atoms)
    if len(na) == 0:
        return VibrationalFreeEnergy(temps, [0.0] * len(temps), 0, 0, [], 0, "no Na: F_vib(host) = 0 (host frozen)")
    sub = atoms[na]
    ph = Phonopy(_phonopy_atoms(sub), supercell_matrix=np.eye(3, dtype=int), primitive_matrix=None,
                 is_symmetry=False)
    ph.generate_displacements(distance=displacement_A, is_plusminus=True)
    forces = []
    for sc in ph.supercells_with_displacements:
        full = atoms.copy()
        full.positions[na] = np.asarray(sc.scaled_positions) @ np.array(atoms.cell)
        forces.append(_forces_of(calc, full)[na])
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.run_mesh([1, 1, 1], is_gamma_center=True)
    f, imag, n_modes = _thermal(ph, temps, imaginary_tol_THz, False)
    return VibrationalFreeEnergy(temps, f, len(na), n_modes, imag, len(ph.supercells_with_displacements),
                                 "Na displaced, host frozen, Gamma point of the cell")


@dataclass
class FreeEnergyProfile:
    """G(x, T) = H(x) + F_vib(x, T) - x f_Na(T) along a path (frozen-host approximation)."""

    temperatures_K: list[float]
    n_na: list[int]
    formation_enthalpy_eV: list[float]
    gibbs_eV: list[list[float]]
    """``gibbs_eV[i][j]``: G of step i at temperature j."""
    f_na_eV: list[float]
    f_vib_eV: list[list[float]]
    imaginary: dict = field(default_factory=dict)
    """Na count -> imaginary frequencies (THz) of that structure."""
    bcc: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def free_energy_profile(path, calc, temperatures: Sequence[float], steps: Sequence[int] | None = None,
                        displacement_A: float = 0.01) -> FreeEnergyProfile:
    """G(x, T) for the kept structures of ``path`` (all steps, or the Na counts in ``steps``)."""
    temps = check_temperatures(temperatures)
    lattice = float(path.reference.get("bcc_lattice_A", 4.2))
    fna = bcc_na_free_energy(calc, lattice, temps, displacement_A=displacement_A)
    wanted = set(steps) if steps else None
    n_na, h, g, fv, imag = [], [], [], [], {}
    for s in path.step_records():
        if wanted is not None and s.n_na not in wanted:
            continue
        res = frozen_host_free_energy(calc, s.atoms(), temps, displacement_A)
        n_na.append(s.n_na)
        h.append(s.formation_enthalpy_eV)
        fv.append(res.free_energy_eV)
        g.append([s.formation_enthalpy_eV + f - s.n_na * fn for f, fn in zip(res.free_energy_eV, fna.free_energy_eV)])
        if res.has_imaginary:
            imag[s.n_na] = res.imaginary_modes_THz
    return FreeEnergyProfile(temps, n_na, h, g, fna.free_energy_eV, fv, imag, fna.as_dict())


def write_displacement_inputs(atoms: Atoms, directory, displacement_A: float = 0.01, potcar_spec: bool = False) -> list:
    """VASP single-point inputs (``disp-000`` ...) for the Na displacements of ``atoms`` (host frozen).

    Run each folder with the VASP backend's runner and feed the forces to phonopy as above.
    """
    from pathlib import Path

    from phonopy import Phonopy

    na = guest_indices(atoms)
    ph = Phonopy(_phonopy_atoms(atoms[na]), supercell_matrix=np.eye(3, dtype=int), primitive_matrix=None,
                 is_symmetry=False)
    ph.generate_displacements(distance=displacement_A, is_plusminus=True)
    out = []
    for k, sc in enumerate(ph.supercells_with_displacements):
        full = atoms.copy()
        full.positions[na] = np.asarray(sc.scaled_positions) @ np.array(atoms.cell)
        out.append(write_inputs(full, Path(directory) / f"disp-{k:03d}", nsw=0, potcar_spec=potcar_spec))
    return out
