"""The one VASP reader: :func:`read_vasp_run` (a run folder -> :class:`RelaxResult`).

The VASP backend, the FireWorks tasks (through the backend) and ``nafill import vasp`` all read
VASP output with it. It reads ``vasprun.xml`` or ``vasprun.xml.gz`` with pymatgen's ``Vasprun``
(and ``OUTCAR``/``OUTCAR.gz`` for the run's timing when there). Every failure raises
:class:`VaspReadError` (a :class:`~nafill.errors.NafillRunError`) whose one-line message names the
file and the reason, the XML parser's own message for a truncated file included.

Energy
    ``energy_eV`` is exactly pymatgen's ``Vasprun.final_energy``, the sigma->0 energy. What
    pymatgen does there: ``E = ionic_steps[-1]["e_0_energy"]``; it also forms
    ``E' = round(e_0 - e_fr of the last electronic step + e_fr of the last ionic step, 8)`` and
    returns ``E'`` when ``|E - E'| > 1e-7``. That repairs the VASP 5.x vasprun.xml bug: in the
    ionic-step ``<energy>`` block VASP 5 writes the sigma->0 energy under ``e_wo_entrp`` and the
    entropy term -TS under ``e_0_energy`` (e.g. -0.031 eV instead of -130.368 eV; 0.000 eV with
    ISMEAR = -5), while the electronic-step blocks are right. VASP 6 writes the block correctly,
    and there ``e_wo_entrp`` is the energy *without entropy*, not the sigma->0 energy (0.033 eV
    apart on a real 6.4.2 run with SIGMA = 0.8), so "take e_wo_entrp" does not work for both.
    ``extra["e0_quirk"]`` says whether the file had the VASP 5 layout.

Structure
    The structure of the last ionic step (the one the energy and forces belong to), cell
    included (ISIF = 3 changes it); on every real file checked it equals pymatgen's
    ``final_structure``. Atoms with selective-dynamics flags F F F are frozen (``FixAtoms``, what
    nafill's documents keep); partly fixed atoms (VASP's flags refer to the lattice directions)
    count as free, except that their max force leaves out the fixed directions.

Max force
    Over the free atoms, from the run's own selective dynamics: fully fixed atoms are left out;
    a partly fixed atom counts with its force projected onto the lattice directions it may move
    along. No free atom (a single point with everything frozen): 0.0.

Atom order
    ``nafill_order.json`` (written by :func:`~nafill.workflows.backends.vasp.inputs.write_inputs`
    beside the inputs: the permutation from nafill's order to the POSCAR's) is applied when it is
    there; without it the atoms stay in VASP's order (hand-made runs), unless
    ``order_file_optional=False``. With a ``template`` (the ``Atoms`` that was sent to VASP) the
    result is that object with the run's cell and positions: nafill's tags, wall labels and
    ``FixAtoms`` are kept.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from nafill.errors import NafillRunError
from nafill.workflows.engine.documents import RelaxResult

ORDER_FILE = "nafill_order.json"
"""Beside a run's inputs: the permutation from nafill's atom order to the POSCAR's."""
VASPRUN_NAMES = ("vasprun.xml", "vasprun.xml.gz")
OUTCAR_NAMES = ("OUTCAR", "OUTCAR.gz")

__all__ = ["ORDER_FILE", "VaspReadError", "find_vasprun", "free_atom_max_force", "read_order", "read_vasp_run"]


class VaspReadError(NafillRunError):
    """A VASP run folder could not be read; the message names the file and the reason."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def find_vasprun(run_dir: str | os.PathLike) -> Path:
    """``vasprun.xml`` or ``vasprun.xml.gz`` in ``run_dir`` (both there: the newer; a tie: the .xml)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise VaspReadError(f"{d}: not a folder (expected a VASP run folder holding vasprun.xml or vasprun.xml.gz)")
    found = [d / n for n in VASPRUN_NAMES if (d / n).is_file()]
    if not found:
        raise VaspReadError(f"{d}: no vasprun.xml or vasprun.xml.gz in this folder (VASP did not finish "
                            "writing, or this is not a VASP run folder)")
    if len(found) == 2 and found[1].stat().st_mtime > found[0].stat().st_mtime:
        return found[1]
    return found[0]


def read_order(run_dir: str | os.PathLike, n_atoms: int, optional: bool = True) -> np.ndarray | None:
    """The permutation in ``nafill_order.json`` (``poscar_atoms = nafill_atoms[order]``); None without the file."""
    path = Path(run_dir) / ORDER_FILE
    if not path.is_file():
        if optional:
            return None
        raise VaspReadError(f"{path}: missing (the atom order nafill wrote beside the inputs); "
                            "without it the atoms cannot be put back in nafill's order")
    try:
        order = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VaspReadError(f"{path}: cannot read the atom order ({type(exc).__name__}: {_one_line(exc)})") from None
    if (not isinstance(order, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in order)
            or sorted(order) != list(range(len(order)))):
        raise VaspReadError(f"{path}: not a permutation of 0..N-1 (a JSON list of atom indices was expected)")
    if len(order) != n_atoms:
        raise VaspReadError(f"{path}: holds {len(order)} atoms but the run has {n_atoms}; "
                            "the order file belongs to another structure")
    return np.asarray(order, dtype=int)


def free_atom_max_force(forces: np.ndarray, cell: np.ndarray, flags: np.ndarray | None) -> float:
    """Largest force norm (eV/A) over the free atoms (``flags``: selective dynamics, True = may move).

    Fully fixed atoms are left out; a partly fixed atom counts with its force projected onto the
    span of the lattice vectors along which it may move. No free atom: 0.0.
    """
    forces = np.asarray(forces, float)
    if flags is None:
        return float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0
    flags = np.asarray(flags, bool)
    best = 0.0
    for f, m in zip(forces, flags):
        if not m.any():
            continue
        if m.all():
            best = max(best, float(np.linalg.norm(f)))
            continue
        a = np.asarray(cell, float)[m]  # the lattice vectors along which the atom may move
        proj = a.T @ np.linalg.solve(a @ a.T, a @ f)
        best = max(best, float(np.linalg.norm(proj)))
    return best


def _atoms(symbols: list[str], cell: np.ndarray, frac: np.ndarray, flags: np.ndarray | None) -> Atoms:
    from ase.constraints import FixAtoms, FixScaled

    atoms = Atoms(symbols=symbols, cell=cell, scaled_positions=frac, pbc=True)
    if flags is not None:
        fixed = [i for i, m in enumerate(flags) if not m.any()]
        constraints: list[Any] = [FixAtoms(indices=fixed)] if fixed else []
        constraints += [FixScaled(i, mask=~m) for i, m in enumerate(flags) if m.any() and not m.all()]
        atoms.set_constraint(constraints or None)
    return atoms


def _run_stats(run_dir: Path) -> dict[str, Any]:
    """OUTCAR timing and memory (a nicety: any failure gives {})."""
    from pymatgen.io.vasp.outputs import Outcar

    for name in OUTCAR_NAMES:
        if (run_dir / name).is_file():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    stats = Outcar(str(run_dir / name)).run_stats
                return {k: v for k, v in stats.items() if v is not None}
            except Exception:  # noqa: BLE001 - run stats are a nicety
                return {}
    return {}


def _load(path: Path):
    from lxml.etree import XMLSyntaxError
    from pymatgen.io.vasp.outputs import Vasprun

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_projected_eigen=False,
                           parse_potcar_file=False)
    except XMLSyntaxError as exc:
        raise VaspReadError(f"{path}: truncated or malformed XML (VASP killed or still running?); "
                            f"XML parser: {_one_line(exc)}") from None
    except (EOFError, OSError) as exc:  # gzip stream cut short, unreadable file
        raise VaspReadError(f"{path}: cannot read the file ({type(exc).__name__}: {_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - pymatgen raises many kinds on odd content
        raise VaspReadError(f"{path}: pymatgen cannot parse it ({type(exc).__name__}: {_one_line(exc)})") from None


def read_vasp_run(
    run_dir: str | os.PathLike,
    template: Atoms | None = None,
    order_file_optional: bool = True,
    run_stats: bool = True,
    backend: str = "vasp",
    settings: dict[str, Any] | None = None,
) -> RelaxResult:
    """Read one VASP run folder into nafill's :class:`RelaxResult` (see the module docstring).

    Args:
        run_dir: the folder holding ``vasprun.xml`` or ``vasprun.xml.gz``.
        template: the ``Atoms`` sent to VASP (nafill's order, tags, constraints): the result is a
            copy of it with the run's final cell and positions. Its symbols must match the run's.
        order_file_optional: without ``nafill_order.json`` keep VASP's order (False: refuse).
        run_stats: read the OUTCAR's timing into ``extra["run_stats"]`` (and ``wall_s``).
        backend, settings: recorded in the result.

    Returns:
        ``RelaxResult`` with ``energy_eV`` (= ``Vasprun.final_energy``), ``max_force_eV_A`` (free
        atoms), ``n_ionic_steps``, ``converged`` (electronic and ionic), the final structure (cell
        included) and in ``extra``: ``vasprun`` (the file read), ``vasp_version``, ``vasp_major``,
        ``converged_electronic``, ``converged_ionic``, ``e0_quirk``, ``energy_free_eV`` (TOTEN),
        ``forces_eV_A`` (last ionic step, nafill's order), ``isif``, ``ibrion``, ``nsw``,
        ``ediffg``, ``order`` (the permutation applied, or None) and ``run_stats``.

    Raises:
        VaspReadError: a missing folder or file, a truncated or malformed XML (the XML parser's
            message), a run without ionic steps or energy, a bad order file, atoms that do not
            match ``template``.
    """
    run_dir = Path(run_dir)
    path = find_vasprun(run_dir)
    vr = _load(path)
    if not vr.ionic_steps:
        raise VaspReadError(f"{path}: no ionic step (no <calculation> block) in the file")
    last = vr.ionic_steps[-1]
    if "structure" not in last:
        raise VaspReadError(f"{path}: the last ionic step has no structure (a response-function or NMR run?)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            energy = float(vr.final_energy)  # sigma->0, VASP 5 e_0 entry repaired by pymatgen
        except Exception as exc:  # noqa: BLE001
            raise VaspReadError(f"{path}: no total energy in the last ionic step ({type(exc).__name__}: "
                                f"{_one_line(exc)})") from None
        converged_electronic = bool(vr.converged_electronic)
        converged_ionic = bool(vr.converged_ionic)
    if not math.isfinite(energy):
        raise VaspReadError(f"{path}: no total energy in the last ionic step (a GW or response-function run?)")

    structure = last["structure"]
    n = len(structure)
    sd = vr.final_structure.site_properties.get("selective_dynamics")
    if sd is None:
        sd = vr.initial_structure.site_properties.get("selective_dynamics")
    flags = None if sd is None else np.asarray(sd, bool).reshape(n, 3)
    forces = np.asarray(last["forces"], float).reshape(n, 3) if last.get("forces") is not None else None
    cell = np.array(structure.lattice.matrix)
    frac = np.array(structure.frac_coords)
    symbols = [site.specie.symbol for site in structure]

    order = read_order(run_dir, n, optional=order_file_optional)
    if order is not None:
        back = np.argsort(order)  # nafill[order[k]] = vasp[k]  <=>  nafill = vasp[argsort(order)]
        frac, symbols = frac[back], [symbols[i] for i in back]
        flags = None if flags is None else flags[back]
        forces = None if forces is None else forces[back]
    fmax = None if forces is None else free_atom_max_force(forces, cell, flags)

    atoms = _atoms(symbols, cell, frac, flags)
    if template is not None:
        if template.get_chemical_symbols() != symbols:
            raise VaspReadError(f"{path}: the run's atoms ({atoms.get_chemical_formula()}, in nafill's order) do "
                                f"not match the structure sent to VASP ({template.get_chemical_formula()})")
        final = template.copy()
        final.calc = None
        final.set_cell(cell, scale_atoms=False)
        final.positions = atoms.positions
        atoms = final

    version = str(vr.generator.get("version", "")).strip()
    try:
        major: int | None = int(version.split(".")[0])
    except ValueError:
        major = None
    params = vr.parameters
    stats = _run_stats(run_dir) if run_stats else {}
    e0_written = float(last.get("e_0_energy", energy))
    extra = {
        "vasprun": str(path),
        "vasp_version": version,
        "vasp_major": major,
        "converged_electronic": converged_electronic,
        "converged_ionic": converged_ionic,
        "e0_quirk": bool(abs(e0_written - energy) > 1e-7),
        "energy_free_eV": float(last["e_fr_energy"]) if last.get("e_fr_energy") is not None else None,
        "forces_eV_A": None if forces is None else forces.tolist(),
        "isif": params.get("ISIF"),
        "ibrion": params.get("IBRION"),
        "nsw": params.get("NSW"),
        "ediffg": params.get("EDIFFG"),
        "order": None if order is None else order.tolist(),
        "run_stats": stats,
    }
    wall = float(stats.get("Elapsed time (sec)", 0.0) or 0.0)
    return RelaxResult.from_atoms(atoms, energy, float("nan") if fmax is None else fmax, len(vr.ionic_steps),
                                  converged_electronic and converged_ionic, backend, dict(settings or {}),
                                  wall, extra=extra)


VaspParseError = VaspReadError
"""The former name (nafill <= 0.1 raised it from ``parse_run``, which this module replaces)."""
