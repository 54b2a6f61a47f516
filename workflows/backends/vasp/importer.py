"""Import a filling study done by hand in VASP: run folders -> a ``path.json`` that
``nafill analyze`` reads (``nafill import vasp``).

One folder per kept step (the relaxed structure with x Na; the Na count is read from the
structure), one for the empty host (its single point or relaxation) and one for bcc Na (its
energy per atom is mu_Na). Every folder is read by
:func:`~nafill.workflows.backends.vasp.reader.read_vasp_run` (``vasprun.xml`` or
``vasprun.xml.gz``; VASP's atom order, no ``nafill_order.json`` needed), so energies are
pymatgen's ``final_energy`` on VASP 5 and 6 files alike.

Everything is checked before anything is written; a bad folder is refused with a one-line
:class:`~nafill.errors.NafillInputError` naming it: no vasprun (or a truncated one), a host folder
holding Na, a bulk folder holding anything but Na, a step whose host atoms (elements, cell,
positions) differ from the host's, Na counts that do not increase from folder to folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.geometry import find_mic

from nafill import __version__
from nafill.errors import NafillInputError
from nafill.io import atoms_to_dict
from nafill.structures.geometry import guest_indices, host_indices
from nafill.workflows.backends.vasp.reader import VaspReadError, read_vasp_run
from nafill.workflows.engine.documents import FillingPath, RelaxResult, StepRecord
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.references import host_hash
from nafill.workflows.engine.store import PATH_JSON, RunStore
from nafill.workflows.engine.summary import summarize

HOST_TOLERANCE_A = 0.05
"""Largest displacement (A) of a host atom, or change of a cell vector component, between the
host folder and a step folder for the step to count as the same host (the carbon is frozen)."""


def _read(folder: str | os.PathLike, role: str) -> RelaxResult:
    try:
        res = read_vasp_run(folder)
    except VaspReadError as exc:
        raise NafillInputError(f"{role} {folder}: {exc}") from None
    return res


def _frozen_host(atoms: Atoms) -> Atoms:
    """``atoms`` with every non-Na atom frozen (nafill's convention for the host)."""
    out = atoms.copy()
    host = host_indices(out)
    out.set_constraint(FixAtoms(indices=host) if len(host) else None)
    return out


def _check_same_host(step: Atoms, host: Atoms, folder, host_dir) -> None:
    role = f"step folder {folder}"
    mine = step[host_indices(step)]
    if mine.get_chemical_formula() != host.get_chemical_formula():
        raise NafillInputError(f"{role}: its host atoms ({mine.get_chemical_formula()}) differ from those of "
                               f"--host {host_dir} ({host.get_chemical_formula()})")
    dcell = float(np.abs(step.cell.array - host.cell.array).max())
    if dcell > HOST_TOLERANCE_A:
        raise NafillInputError(f"{role}: its cell differs from that of --host {host_dir} by {dcell:.3f} A "
                               f"(> {HOST_TOLERANCE_A} A)")
    if mine.get_chemical_symbols() != host.get_chemical_symbols():
        raise NafillInputError(f"{role}: its host atoms are not in the order of --host {host_dir}")
    d, _ = find_mic(mine.positions - host.positions, host.cell, pbc=True)
    moved = np.linalg.norm(d, axis=1)
    k = int(moved.argmax())
    if moved[k] > HOST_TOLERANCE_A:
        raise NafillInputError(f"{role}: host atom {k} ({mine[k].symbol}) is {moved[k]:.3f} A from its place in "
                               f"--host {host_dir} (> {HOST_TOLERANCE_A} A): not the same host, or the walls moved")


def import_vasp_study(
    host_dir: str | os.PathLike,
    bulk_na_dir: str | os.PathLike,
    step_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    overwrite: bool = False,
) -> FillingPath:
    """Build and write ``out_dir/path.json`` (and ``path.extxyz``) from VASP run folders.

    Args:
        host_dir: the empty host (no Na).
        bulk_na_dir: bcc Na (only Na atoms): mu_Na = its energy per atom.
        step_dirs: one folder per kept step, in increasing Na count.
        out_dir: the run folder to write (refused if it holds a ``path.json``, unless ``overwrite``).

    Returns:
        The :class:`FillingPath` written: ``reference`` (``e_host_eV``, ``mu_na_eV``,
        ``bcc_lattice_A`` from the bulk cell's volume), one step per folder with H(x) and the step
        voltage (over a gap of several Na, the average voltage of the gap), the source folder of
        each step in its ``source`` entry.

    Raises:
        NafillInputError: a bad folder (named in the one-line message); nothing is written then.
    """
    out = Path(out_dir)
    if not step_dirs:
        raise NafillInputError("STEP_DIR: give at least one step folder")
    if out.exists() and not out.is_dir():
        raise NafillInputError(f"--out {out}: exists and is not a folder")
    if (out / PATH_JSON).exists() and not overwrite:
        raise NafillInputError(f"--out {out}: holds a run already ({PATH_JSON}); choose another folder or "
                               "pass --overwrite")

    host_res = _read(host_dir, "--host")
    host = host_res.atoms()
    if len(guest_indices(host)):
        raise NafillInputError(f"--host {host_dir}: holds {len(guest_indices(host))} Na; the empty host was expected")
    bulk_res = _read(bulk_na_dir, "--bulk-na")
    bulk = bulk_res.atoms()
    if set(bulk.get_chemical_symbols()) != {"Na"}:
        raise NafillInputError(f"--bulk-na {bulk_na_dir}: holds {bulk.get_chemical_formula()}; bcc Na "
                               "(only Na atoms) was expected")
    mu = float(bulk_res.energy_eV) / len(bulk)
    e_host = float(host_res.energy_eV)

    steps: list[tuple[Path, RelaxResult, Atoms, int]] = []
    host_part = host[host_indices(host)]
    for folder in step_dirs:
        res = _read(folder, "step folder")
        atoms = res.atoms()
        n = len(guest_indices(atoms))
        if n == 0:
            raise NafillInputError(f"step folder {folder}: holds no Na")
        _check_same_host(atoms, host_part, folder, host_dir)
        if steps and n <= steps[-1][3]:
            raise NafillInputError(f"step folder {folder}: holds {n} Na, not more than the {steps[-1][3]} Na of "
                                   f"the folder before it ({steps[-1][0]}); give the folders in increasing Na count")
        steps.append((Path(folder), res, atoms, n))

    versions = sorted({r.extra["vasp_version"] for r in [host_res, bulk_res] + [s[1] for s in steps]})
    backend_settings = {"imported": True, "vasp_versions": versions}
    fingerprint = hashlib.sha256(json.dumps({"name": "vasp", "settings": backend_settings},
                                            sort_keys=True).encode()).hexdigest()[:16]
    ediffg = steps[-1][1].extra.get("ediffg")
    policy = FillingPolicy(max_na=steps[-1][3], n_candidates=1, prescreen=None, refine_trials=0,
                           fmax_eV_A=abs(float(ediffg)) if ediffg and float(ediffg) < 0 else None)
    host_frozen = _frozen_host(host)
    try:
        from nafill.structures.capacity import pore_capacity

        capacity: int | None = int(pore_capacity(host_frozen))
    except Exception:  # noqa: BLE001 - a host the builders' geometry rules do not recognise
        capacity = None
    reference: dict[str, Any] = {
        "mu_na_eV": mu,
        "e_host_eV": e_host,
        "bcc_lattice_A": float((2.0 * bulk.get_volume() / len(bulk)) ** (1.0 / 3.0)),
        "bcc_bulk_modulus_GPa": None,
        "backend_fingerprint": fingerprint,
        "host_hash": host_hash(host_frozen),
        "theoretical_capacity_na": capacity,
        "host_dir": str(host_dir),
        "bulk_na_dir": str(bulk_na_dir),
    }
    path = FillingPath(host=atoms_to_dict(host_frozen),
                       backend={"name": "vasp", "settings": backend_settings, "fingerprint": fingerprint},
                       policy=policy.as_dict(), reference=reference, nafill_version=__version__)
    e_prev, n_prev = e_host, 0
    for folder, res, atoms, n in steps:
        e = float(res.energy_eV)
        record = StepRecord(
            n_na=n,
            energy_eV=e,
            formation_enthalpy_eV=float(e - e_host - n * mu),
            step_voltage_V=float(-(e - e_prev - (n - n_prev) * mu) / (n - n_prev)),
            n_candidates=1,
            n_relaxed=1,
            wall_s=float(res.wall_s),
            site_kind="imported",
            max_force_eV_A=res.max_force_eV_A,
            converged=res.converged,
            n_ionic_steps=res.n_ionic_steps,
            structure=atoms_to_dict(_frozen_host(atoms)),
        )
        step = record.as_dict()
        step["source"] = {k: res.extra.get(k) for k in ("vasprun", "vasp_version", "e0_quirk", "converged_electronic",
                                                         "converged_ionic", "isif")}
        step["source"]["directory"] = str(folder)
        path.steps.append(step)
        e_prev, n_prev = e, n
    path.state = {"beam": [{"energy_eV": e_prev, "parent_rank": 0, "structure": path.steps[-1]["structure"]}],
                  "finished": True, "stop_reason": f"imported from {len(steps)} VASP step folder(s)"}
    path.summary = summarize(path)
    RunStore(out).save(path)
    return path
