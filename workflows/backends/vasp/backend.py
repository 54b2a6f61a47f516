"""The VASP backend: write inputs, run under custodian, parse into the common RelaxResult.

Options (all JSON-safe, so they travel in FireWorks specs):

* ``vasp_cmd``: the command (default ``$NAFILL_VASP_CMD`` or ``vasp_std``); in FireWorks,
  ``">>vasp_cmd<<"`` takes it from the FireWorker's ``env``.
* ``incar``: INCAR overrides; ``ivdw``: 11 (D3 zero damping, default) or 12 (D3-BJ).
* ``potcar_spec``: write POTCAR.spec (symbols only) instead of POTCAR (dry runs, the stand-in).
* ``handlers``, ``validators``, ``max_errors``, ``walltime_s``: custodian settings by name.
* ``bader``: write CHGCAR/AECCARs and compute the Na Bader valence (default True).
* ``workdir``: where run folders are made (default ``./vasp_runs``); ``polling_s``: custodian's
  polling interval (10 s; the stand-in finishes in well under a second).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from nafill.errors import NafillInputError
from nafill.structures.geometry import guest_indices, host_indices
from nafill.workflows.backends.base import Backend
from nafill.workflows.backends.vasp.bader import na_valence_from_directory
from nafill.workflows.backends.vasp.inputs import restore_order, write_inputs
from nafill.workflows.backends.vasp.runner import DEFAULT_HANDLERS, DEFAULT_VALIDATORS, VaspRunError, check_handler_names, run_vasp
from nafill.workflows.engine.documents import RelaxResult


class VaspParseError(RuntimeError):
    """A VASP output could not be read."""


def parse_run(directory: str | os.PathLike, atoms: Atoms, fixed: Sequence[int]) -> dict[str, Any]:
    """Energy (eV, sigma->0), max force over free atoms (eV/A), ionic steps, convergence, final
    structure (nafill's atom order, tags and walls kept) from vasprun.xml (+ OUTCAR run stats)."""
    import warnings

    from pymatgen.io.vasp.outputs import Outcar, Vasprun

    directory = Path(directory)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vr = Vasprun(str(directory / "vasprun.xml"), parse_dos=False, parse_eigen=False,
                         parse_potcar_file=False)
    except Exception as exc:  # noqa: BLE001
        raise VaspParseError(f"cannot read {directory / 'vasprun.xml'}: {type(exc).__name__}: {exc}") from None
    last = vr.ionic_steps[-1]
    frac = restore_order(np.array(last["structure"].frac_coords), directory)
    forces = restore_order(np.array(last["forces"]), directory)
    final = atoms.copy()
    final.set_scaled_positions(frac)
    final.set_constraint(FixAtoms(indices=list(fixed)) if len(fixed) else None)
    free = np.ones(len(atoms), bool)
    free[list(fixed)] = False
    fmax = float(np.linalg.norm(forces[free], axis=1).max()) if free.any() else 0.0
    run_stats = {}
    if (directory / "OUTCAR").is_file():
        try:
            run_stats = {k: v for k, v in Outcar(str(directory / "OUTCAR")).run_stats.items() if v is not None}
        except Exception:  # noqa: BLE001 - run stats are a nicety
            run_stats = {}
    return {"atoms": final, "energy_eV": float(last["e_0_energy"]), "max_force_eV_A": fmax,
            "n_ionic_steps": len(vr.ionic_steps), "converged": bool(vr.converged), "run_stats": run_stats}


class VaspBackend(Backend):
    """VASP through custodian (see the module docstring for the options)."""

    name = "vasp"

    def __init__(
        self,
        vasp_cmd: str | None = None,
        incar: dict[str, Any] | None = None,
        ivdw: int = 11,
        potcar_spec: bool = False,
        handlers: Sequence[str] = DEFAULT_HANDLERS,
        validators: Sequence[str] = DEFAULT_VALIDATORS,
        max_errors: int = 5,
        walltime_s: float | None = None,
        bader: bool = True,
        workdir: str | None = None,
        polling_s: float = 10.0,
    ) -> None:
        check_handler_names(list(handlers), list(validators))
        if ivdw not in (0, 11, 12):
            raise NafillInputError(f"ivdw = {ivdw} must be 11 (D3 zero damping), 12 (D3-BJ) or 0")
        if not potcar_spec:
            from pymatgen.core import SETTINGS

            psp = SETTINGS.get("PMG_VASP_PSP_DIR") or os.environ.get("PMG_VASP_PSP_DIR")
            if not psp or not Path(psp).expanduser().is_dir():
                raise NafillInputError(
                    f"PMG_VASP_PSP_DIR = {psp!r}: the VASP POTCAR directory is not set or does not exist; "
                    "set it (pymatgen's ~/.config/.pmgrc.yaml or the environment) or use potcar_spec=True"
                )
        self.vasp_cmd = vasp_cmd or os.environ.get("NAFILL_VASP_CMD", "vasp_std")
        self.incar = dict(incar or {})
        self.ivdw = int(ivdw)
        self.potcar_spec = bool(potcar_spec)
        self.handlers = list(handlers)
        self.validators = list(validators)
        self.max_errors = int(max_errors)
        self.walltime_s = walltime_s
        self.bader = bool(bader)
        self.workdir = workdir
        self.polling_s = float(polling_s)

    def settings(self) -> dict[str, Any]:
        return {"vasp_cmd": self.vasp_cmd, "incar": self.incar, "ivdw": self.ivdw, "potcar_spec": self.potcar_spec,
                "handlers": self.handlers, "validators": self.validators, "max_errors": self.max_errors}

    def _run_dir(self, label: str) -> Path:
        root = Path(self.workdir) if self.workdir else Path.cwd() / "vasp_runs"
        d = root / f"{label}-{uuid.uuid4().hex[:10]}"
        d.mkdir(parents=True, exist_ok=False)
        return d

    def _calculate(self, atoms: Atoms, fixed: Sequence[int], label: str, nsw: int, fmax: float | None,
                   charges: bool) -> RelaxResult:
        t0 = time.perf_counter()
        work = atoms.copy()
        work.set_constraint(FixAtoms(indices=list(fixed)) if len(fixed) else None)
        d = self._run_dir(label)
        write_inputs(work, d, self.incar, fmax, nsw, charges, self.ivdw, self.potcar_spec)
        try:
            corrections = run_vasp(d, self.vasp_cmd, self.handlers, self.validators, self.max_errors,
                                   self.walltime_s, self.polling_s)
            parsed = parse_run(d, work, fixed)
        except (VaspRunError, VaspParseError) as exc:
            res = RelaxResult.failed(self.name, self.settings(), str(exc), time.perf_counter() - t0)
            res.extra["directory"] = str(d)
            return res
        extra: dict[str, Any] = {"directory": str(d), "run_stats": parsed["run_stats"]}
        if charges and len(guest_indices(work)):
            extra["na_bader_valence"] = na_valence_from_directory(d)
        return RelaxResult.from_atoms(parsed["atoms"], parsed["energy_eV"], parsed["max_force_eV_A"],
                                      parsed["n_ionic_steps"], parsed["converged"], self.name, self.settings(),
                                      time.perf_counter() - t0, corrections=corrections, extra=extra)

    def relax(self, atoms: Atoms, fmax_eV_A: float = 0.01, max_steps: int = 200,
              fixed: Sequence[int] | None = None) -> RelaxResult:
        fix = host_indices(atoms) if fixed is None else np.asarray(fixed, int)
        return self._calculate(atoms, fix, "relax", int(max_steps), float(fmax_eV_A), self.bader)

    def single_point(self, atoms: Atoms) -> RelaxResult:
        return self._calculate(atoms, list(range(len(atoms))), "static", 0, None, False)

    def relax_walls_and_na(self, atoms: Atoms, fmax_eV_A: float = 0.01, max_steps: int = 300) -> RelaxResult:
        return self._calculate(atoms, [], "spacing", int(max_steps), float(fmax_eV_A), False)
