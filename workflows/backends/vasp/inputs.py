"""VASP inputs for nafill: the study's settings as a pymatgen ``VaspInputSet``.

Defaults (the published protocol):

==========  ==========  ==============================================================
tag         value       why
==========  ==========  ==============================================================
GGA         PE          PBE
ENCUT       400         plane-wave cutoff, eV
EDIFF       1e-6        electronic convergence, eV
EDIFFG      -0.01       ionic convergence: max force 0.01 eV/A (set from the fill's fmax)
IBRION      2           conjugate-gradient relaxation (ISIF = 2: ions only, cell fixed)
NSW         200         ionic steps (set from the fill's max_relax_steps; 0 for single points)
IVDW        11          DFT-D3, zero damping (12 = Becke-Johnson, selectable)
ISMEAR      0           Gaussian smearing, SIGMA = 0.05 eV: safe for the semimetallic walls
SIGMA       0.05        and the metallic Na clusters alike; energies are the sigma->0 values
PREC        Accurate
LREAL       Auto        large cells
ALGO        Normal
NELM        200
ISPIN       1           non-spin-polarised (override for odd-Na magnetism studies)
LWAVE       False
LCHARG      True/False  on (with LAECHG) when Bader charges are wanted
==========  ==========  ==============================================================

k-points: Gamma-centred, ``n_i = max(1, round(29.5 A / |a_i|))`` in-plane and 1 along the vacuum
direction of a slab: 3x3x1 for the 4x4 cell (a = 9.84 A), 2x2x1 for 6x6; bulk cells (no vacuum,
e.g. bcc Na) use 60 A (16x16x16 for the 1-atom bcc cell). PAW: Na_pv, C, H, O (PBE_54). Selective
dynamics freezes the carbon (and H, O) atoms. Atoms are sorted by element for VASP; the order is
restored when the run is parsed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp.inputs import Kpoints
from pymatgen.io.vasp.sets import VaspInputSet

from nafill.errors import NafillInputError
from nafill.structures.geometry import host_indices

KPOINT_LENGTH_SLAB_A = 29.5
KPOINT_LENGTH_BULK_A = 60.0
ORDER_FILE = "nafill_order.json"
"""Written beside the inputs: the permutation from nafill's atom order to the POSCAR's."""

NAFILL_INCAR: dict[str, Any] = {
    "GGA": "PE",
    "ENCUT": 400,
    "EDIFF": 1e-6,
    "EDIFFG": -0.01,
    "IBRION": 2,
    "ISIF": 2,
    "NSW": 200,
    "IVDW": 11,
    "ISMEAR": 0,
    "SIGMA": 0.05,
    "PREC": "Accurate",
    "LREAL": "Auto",
    "ALGO": "Normal",
    "NELM": 200,
    "ISPIN": 1,
    "LWAVE": False,
    "LCHARG": False,
    "LAECHG": False,
    "LASPH": True,
}


def is_slab(atoms: Atoms) -> bool:
    """A pore model (vacuum along z) rather than a bulk cell."""
    return len(host_indices(atoms)) > 0 or atoms.cell.lengths()[2] > 20.0


def kpoint_mesh(atoms: Atoms) -> tuple[int, int, int]:
    """Gamma-centred mesh: 29.5 A / |a_i| in-plane (1 along z) for slabs, 60 A / |a_i| for bulk."""
    lengths = atoms.cell.lengths()
    if is_slab(atoms):
        return (max(1, round(KPOINT_LENGTH_SLAB_A / lengths[0])), max(1, round(KPOINT_LENGTH_SLAB_A / lengths[1])), 1)
    return tuple(max(1, round(KPOINT_LENGTH_BULK_A / x)) for x in lengths)  # type: ignore[return-value]


@dataclass
class NafillVaspSet(VaspInputSet):
    """The study's VASP settings (see the module docstring); ``user_incar_settings`` override any tag."""

    CONFIG = {
        "INCAR": NAFILL_INCAR,
        "KPOINTS": {"reciprocal_density": 64},
        "POTCAR_FUNCTIONAL": "PBE_54",
        "POTCAR": {"Na": "Na_pv", "C": "C", "H": "H", "O": "O", "Li": "Li_sv", "K": "K_sv", "N": "N"},
    }
    mesh: tuple[int, int, int] | None = None

    @property
    def kpoints(self) -> Kpoints:
        if self.mesh is None:
            raise ValueError("NafillVaspSet needs a k-point mesh (use vasp_input_set())")
        return Kpoints.gamma_automatic(tuple(self.mesh))


def sorted_structure(atoms: Atoms) -> tuple[Structure, list[int]]:
    """pymatgen Structure sorted by element (stable), with selective dynamics; and the order used."""
    # the host first (C, then H, O ... by atomic number), the Na last
    order = sorted(range(len(atoms)), key=lambda i: (atoms.numbers[i] == 11, atoms.numbers[i], i))
    frozen = set()
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            frozen |= {int(i) for i in c.get_indices()}
    work = atoms[order]
    work.set_constraint()
    structure = AseAtomsAdaptor.get_structure(work)
    flags = [[i not in frozen] * 3 for i in order]
    structure.add_site_property("selective_dynamics", flags)
    return structure, order


def vasp_input_set(
    atoms: Atoms,
    incar: dict[str, Any] | None = None,
    fmax_eV_A: float | None = None,
    nsw: int | None = None,
    charges: bool = False,
    ivdw: int = 11,
) -> tuple[NafillVaspSet, list[int]]:
    """The input set for one calculation of ``atoms`` (frozen atoms from its ``FixAtoms``)."""
    if ivdw not in (0, 11, 12):
        raise NafillInputError(f"ivdw = {ivdw} must be 11 (D3 zero damping), 12 (D3-BJ) or 0 (none)")
    settings: dict[str, Any] = {"IVDW": ivdw} if ivdw else {"IVDW": None}
    if fmax_eV_A is not None:
        settings["EDIFFG"] = -abs(float(fmax_eV_A))
    if nsw is not None:
        settings["NSW"] = int(nsw)
        if nsw == 0:
            settings["IBRION"] = -1
            settings["EDIFFG"] = None
    if charges:
        settings.update({"LCHARG": True, "LAECHG": True})
    settings.update(incar or {})
    structure, order = sorted_structure(atoms)
    vis = NafillVaspSet(structure=structure, user_incar_settings=settings, mesh=kpoint_mesh(atoms),
                        sort_structure=False)
    return vis, order


def write_inputs(
    atoms: Atoms,
    directory: str | os.PathLike,
    incar: dict[str, Any] | None = None,
    fmax_eV_A: float | None = None,
    nsw: int | None = None,
    charges: bool = False,
    ivdw: int = 11,
    potcar_spec: bool = False,
) -> Path:
    """Write INCAR, KPOINTS, POSCAR (selective dynamics), POTCAR (or POTCAR.spec) into ``directory``.

    Raises :class:`NafillInputError` when POTCARs are needed but pymatgen cannot find them.
    """
    vis, order = vasp_input_set(atoms, incar, fmax_eV_A, nsw, charges, ivdw)
    directory = Path(directory)
    try:
        vis.write_input(str(directory), potcar_spec=potcar_spec)
    except (OSError, ValueError, RuntimeError) as exc:
        if "POTCAR" in str(exc) or "PMG_VASP_PSP_DIR" in str(exc) or "psp" in str(exc).lower():
            raise NafillInputError(
                "VASP POTCARs not found: set PMG_VASP_PSP_DIR (pymatgen's setting, e.g. in ~/.config/.pmgrc.yaml) "
                f"to your POTCAR directory, or use potcar_spec=True for a dry run ({exc})"
            ) from None
        raise
    (directory / ORDER_FILE).write_text(json.dumps(order))
    return directory


def restore_order(values: np.ndarray, directory: str | os.PathLike) -> np.ndarray:
    """Put per-atom ``values`` written in POSCAR order back into nafill's order."""
    order = json.loads((Path(directory) / ORDER_FILE).read_text())
    out = np.empty_like(values)
    out[np.asarray(order)] = values
    return out
