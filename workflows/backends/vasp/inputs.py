"""VASP inputs for nafill: the study's settings as a pymatgen ``VaspInputSet``.

Defaults (the published protocol plus what an experienced VASP user adds for these cells):

==========  ==============  ====================================================================
tag         value           why
==========  ==============  ====================================================================
GGA         PE              PBE, as in the study
ENCUT       400             plane-wave cutoff, eV (the study's value; Na_pv and C converge there)
EDIFF       1e-6            electronic convergence, eV: forces good to well below EDIFFG
EDIFFG      -0.01           ionic convergence: max force 0.01 eV/A, the protocol's value; set
                            from the fill's ``fmax_eV_A``, whose default for ``vasp`` is 0.01
                            (0.05 for the surrogates)
IBRION      2               conjugate gradient (ISIF = 2: ions only, cell fixed: the walls set
                            the pore); single points: NSW = 0 (pymatgen then drops IBRION,
                            ISIF and EDIFFG)
NSW         200             ionic steps (set from the fill's ``max_relax_steps``; 0 = single point)
IVDW        11              DFT-D3, zero damping (12 = Becke-Johnson, selectable): graphite-like
                            walls and Na-wall binding need dispersion
ISMEAR      0               Gaussian smearing, SIGMA = 0.05 eV: safe for the semimetallic walls
SIGMA       0.05            and the metallic Na clusters alike; energies are the sigma->0 values
PREC        Accurate        forces for the 0.01 eV/A criterion
LREAL       Auto            real-space projectors: large cells (64 C + Na, 15 A of vacuum)
LASPH       True            non-spherical gradient corrections inside the PAW spheres (GGA)
ALGO        Normal          blocked Davidson: robust for the metallic clusters
NELM        200             room for the metallic clusters' slow SCF
LDIPOL      True            dipole correction of the slab (slabs only): Na sitting off the
IDIPOL      3               centre (one wall first) make the slab polar; without it the
DIPOL       pore mid-plane  periodic images interact through the vacuum. Along z (IDIPOL = 3),
                            centred (direct coordinates) on the mid-plane between the two walls
                            by default (``dipole="midplane"``), or the centre of mass
                            (``dipole="com"``), or off (``dipole=None``). Bulk cells: off
ISPIN       1 or 2          spin policy (``spin="odd"``, default): ISPIN = 2 with MAGMOM =
MAGMOM      0.5 on Na, 0    0.5 muB on each Na and 0 on the host when the Na count is odd (an
                            unpaired electron: free Na_n clusters with odd n are doublets,
                            e.g. Na_3, Na_5); ISPIN = 1 for even counts, the empty host and bcc Na
                            (closed shell / non-magnetic metal). Whether one Na on graphene
                            keeps a moment depends on its charge transfer: the spin-polarised
                            run decides, not the input. A spin-polarised run that finds no
                            moment gives the non-spin-polarised energy, so the policy can only
                            lower odd-count energies to their ground state; its cost is
                            about twice the run time on half the steps. ``spin="off"``: ISPIN = 1
                            everywhere (the old behaviour), ``spin="on"``: ISPIN = 2 everywhere
NCORE       from the cores  band-group parallelisation: ``ncore`` option or ``>>vasp_ncore<<``
KPAR        1               (FireWorker env), else ``$NAFILL_VASP_NCORE`` / ``$NAFILL_VASP_KPAR``,
                            else NCORE = the largest divisor of the core count (``$NAFILL_VASP_NCORES``,
                            ``$SLURM_NTASKS``, else this node's CPU count) not above its square
                            root (16 cores: 4, 128: 8), KPAR = 1 (3x3x1 Gamma has few
                            irreducible k-points; KPAR > 1 multiplies the memory). VASP's own
                            default NCORE = 1 is slow for 60+ atoms
LWAVE       False           no WAVECAR: nothing restarts from it
LCHARG      False           no CHGCAR for relaxations, pre-screen single points and rejected
LAECHG      False           candidates (about 0.5 GB per run of the 4x4 cell). Charge files and
                            the Bader analysis come from one static run on the structure kept at
                            each step (LCHARG = LAECHG = True, its own folder:
                            :meth:`~nafill.workflows.backends.vasp.backend.VaspBackend.analyse_kept`)
==========  ==============  ====================================================================

k-points: Gamma-centred, ``n_i = max(1, round(29.5 A / |a_i|))`` in-plane and 1 along the vacuum
direction of a slab: 3x3x1 for the 4x4 cell (a = 9.84 A), 2x2x1 for 6x6; bulk cells (no vacuum,
e.g. bcc Na) use 60 A (16x16x16 for the 1-atom bcc cell). PAW: Na_pv, C, H, O (PBE_54); an element
outside that map is refused with its name. Selective dynamics freezes the carbon (and H, O) atoms.
Atoms are sorted by element for VASP; the permutation is written to ``nafill_order.json`` and the
reader (:mod:`~nafill.workflows.backends.vasp.reader`) restores nafill's order.
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

from nafill.constants import TAG_LOWER_WALL, TAG_UPPER_WALL
from nafill.errors import NafillInputError
from nafill.structures.geometry import guest_indices, host_indices, wall_labels
from nafill.workflows.backends.vasp.reader import ORDER_FILE

KPOINT_LENGTH_SLAB_A = 29.5
KPOINT_LENGTH_BULK_A = 60.0
POTCAR_MAP = {"Na": "Na_pv", "C": "C", "H": "H", "O": "O", "Li": "Li_sv", "K": "K_sv", "N": "N"}
"""PAW potentials by element (PBE_54); other elements are refused by name."""
DIPOLE_MODES = ("midplane", "com", None)
SPIN_MODES = ("odd", "on", "off")
NA_MAGMOM_MUB = 0.5
"""Initial moment on each Na of a spin-polarised run, muB (the host starts at 0)."""

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
    "KPAR": 1,
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
        "POTCAR": POTCAR_MAP,
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


def dipole_tags(atoms: Atoms, dipole: str | None = "midplane") -> dict[str, Any]:
    """LDIPOL / IDIPOL / DIPOL of a slab (empty for bulk cells or ``dipole=None``).

    ``"midplane"``: centre on the plane half-way between the mean heights of the lower and the
    upper wall carbon (every upper sheet, for connected pores); ``"com"``: the centre of mass.
    DIPOL is in direct coordinates (x, y = 0.5; only z matters for IDIPOL = 3).
    """
    if dipole not in DIPOLE_MODES:
        raise NafillInputError(f"dipole = {dipole!r} must be 'midplane', 'com' or None (off)")
    if dipole is None or not is_slab(atoms):
        return {}
    if dipole == "com":
        z = float(atoms.get_center_of_mass()[2])
    else:
        labels = wall_labels(atoms)
        lower = atoms.positions[labels == TAG_LOWER_WALL, 2]
        upper = atoms.positions[labels == TAG_UPPER_WALL, 2]
        if len(lower) == 0 or len(upper) == 0:
            z = float(atoms.get_center_of_mass()[2])
        else:
            z = 0.5 * (float(lower.mean()) + float(upper.mean()))
    frac_z = float(np.linalg.solve(np.asarray(atoms.cell).T, [0.0, 0.0, z])[2]) % 1.0
    return {"LDIPOL": True, "IDIPOL": 3, "DIPOL": [0.5, 0.5, round(frac_z, 6)]}


def spin_tags(atoms: Atoms, spin: str = "odd") -> dict[str, Any]:
    """ISPIN / MAGMOM by the spin policy (see the module docstring)."""
    if spin not in SPIN_MODES:
        raise NafillInputError(f"spin = {spin!r} must be 'odd' (ISPIN 2 for odd Na counts), 'on' or 'off'")
    n_na = len(guest_indices(atoms))
    polarised = spin == "on" or (spin == "odd" and n_na % 2 == 1 and len(host_indices(atoms)) > 0)
    if not polarised:
        return {"ISPIN": 1}
    magmom = {s: (NA_MAGMOM_MUB if s == "Na" else 0.0) for s in set(atoms.get_chemical_symbols())}
    return {"ISPIN": 2, "MAGMOM": magmom}


def core_count() -> int:
    """Cores VASP runs on: ``$NAFILL_VASP_NCORES``, ``$SLURM_NTASKS``, else this node's CPU count."""
    for key in ("NAFILL_VASP_NCORES", "SLURM_NTASKS"):
        value = os.environ.get(key, "")
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def parallel_tags(ncore: int | str | None = None, kpar: int | str | None = None,
                  n_cores: int | None = None) -> dict[str, int]:
    """NCORE and KPAR: given, else ``$NAFILL_VASP_NCORE`` / ``$NAFILL_VASP_KPAR``, else from the cores.

    Default KPAR = 1 and NCORE = the largest divisor of ``n_cores / KPAR`` not above its square
    root (1 core: 1, 16: 4, 48: 6, 128: 8).
    """
    def as_int(name: str, value) -> int | None:
        if value is None or value == "":
            return None
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise NafillInputError(f"{name} = {value!r} must be a positive integer") from None
        if v < 1:
            raise NafillInputError(f"{name} = {value!r} must be a positive integer")
        return v

    kpar_v = as_int("kpar", kpar) or as_int("NAFILL_VASP_KPAR", os.environ.get("NAFILL_VASP_KPAR")) or 1
    ncore_v = as_int("ncore", ncore) or as_int("NAFILL_VASP_NCORE", os.environ.get("NAFILL_VASP_NCORE"))
    if ncore_v is None:
        per_k = max(1, (n_cores or core_count()) // kpar_v)
        ncore_v = max(d for d in range(1, int(per_k**0.5) + 1) if per_k % d == 0)
    return {"NCORE": ncore_v, "KPAR": kpar_v}


def vasp_input_set(
    atoms: Atoms,
    incar: dict[str, Any] | None = None,
    fmax_eV_A: float | None = None,
    nsw: int | None = None,
    charges: bool = False,
    ivdw: int = 11,
    dipole: str | None = "midplane",
    spin: str = "odd",
    parallel: dict[str, int] | None = None,
) -> tuple[NafillVaspSet, list[int]]:
    """The input set for one calculation of ``atoms`` (frozen atoms from its ``FixAtoms``).

    ``charges`` switches LCHARG and LAECHG on (only the static run on a step's kept structure
    asks for them); ``parallel``: NCORE / KPAR (:func:`parallel_tags`); ``incar`` overrides any tag.
    """
    if ivdw not in (0, 11, 12):
        raise NafillInputError(f"ivdw = {ivdw} must be 11 (D3 zero damping), 12 (D3-BJ) or 0 (none)")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(POTCAR_MAP))
    if unknown:
        raise NafillInputError(f"elements {unknown} have no PAW potential in nafill's VASP set; known: "
                               f"{', '.join(sorted(POTCAR_MAP))} (add it with user_potcar_settings)")
    settings: dict[str, Any] = {"IVDW": ivdw} if ivdw else {"IVDW": None}
    if fmax_eV_A is not None:
        settings["EDIFFG"] = -abs(float(fmax_eV_A))
    if nsw is not None:
        settings["NSW"] = int(nsw)
        if nsw == 0:
            settings["IBRION"] = -1
            settings["EDIFFG"] = None
    settings.update(dipole_tags(atoms, dipole))
    settings.update(spin_tags(atoms, spin))
    settings.update(parallel if parallel is not None else parallel_tags())
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
    dipole: str | None = "midplane",
    spin: str = "odd",
    parallel: dict[str, int] | None = None,
) -> Path:
    """Write INCAR, KPOINTS, POSCAR (selective dynamics), POTCAR (or POTCAR.spec) and
    ``nafill_order.json`` into ``directory`` (the arguments as for :func:`vasp_input_set`).

    Raises :class:`NafillInputError` when POTCARs are needed but pymatgen cannot find them.
    """
    vis, order = vasp_input_set(atoms, incar, fmax_eV_A, nsw, charges, ivdw, dipole, spin, parallel)
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
