"""The VASP backend: write inputs, run under custodian, read the run into the common RelaxResult.

Options (all JSON-safe, so they travel in FireWorks specs; ``">>key<<"`` takes a value from the
FireWorker's ``env``):

* ``vasp_cmd``: the command (default ``$NAFILL_VASP_CMD`` or ``vasp_std``); in FireWorks,
  ``">>vasp_cmd<<"`` takes it from the FireWorker's ``env``.
* ``incar``: INCAR overrides; ``ivdw``: 11 (D3 zero damping, default) or 12 (D3-BJ).
* ``dipole``: ``"midplane"`` (default), ``"com"`` or None: the slab's dipole correction;
  ``spin``: ``"odd"`` (default: ISPIN = 2 for odd Na counts), ``"on"`` or ``"off"``
  (:mod:`~nafill.workflows.backends.vasp.inputs` documents every tag and why).
* ``ncore``, ``kpar``: VASP parallelisation, e.g. ``">>vasp_ncore<<"`` from the FireWorker's env;
  default from ``$NAFILL_VASP_NCORE`` / ``$NAFILL_VASP_KPAR``, else from the core count. Not
  part of the backend's fingerprint (they do not change energies).
* ``potcar_spec``: write POTCAR.spec (symbols only) instead of POTCAR (dry runs, the stand-in).
* ``handlers``, ``validators``, ``max_errors``, ``walltime_s``: custodian settings by name.
* ``bader``: after each step, one static run on the kept structure writes CHGCAR and the AECCARs
  and gives the Na Bader valence (:meth:`VaspBackend.analyse_kept`; default True). Relaxations,
  pre-screen single points and rejected candidates never write charge files.
* ``workdir``: where run folders are made (default ``./vasp_runs``); ``polling_s``: custodian's
  polling interval (10 s; the stand-in finishes in well under a second).

Every run is read by :func:`~nafill.workflows.backends.vasp.reader.read_vasp_run`.
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
from nafill.workflows.backends.vasp.inputs import DIPOLE_MODES, SPIN_MODES, parallel_tags, write_inputs
from nafill.workflows.backends.vasp.reader import VaspReadError, read_vasp_run
from nafill.workflows.backends.vasp.runner import DEFAULT_HANDLERS, DEFAULT_VALIDATORS, VaspRunError, check_handler_names, run_vasp
from nafill.workflows.engine.documents import RelaxResult


class VaspBackend(Backend):
    """VASP through custodian (see the module docstring for the options)."""

    name = "vasp"
    default_fmax_eV_A = 0.01
    """The protocol's EDIFFG = -0.01."""

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
        dipole: str | None = "midplane",
        spin: str = "odd",
        ncore: int | str | None = None,
        kpar: int | str | None = None,
    ) -> None:
        check_handler_names(list(handlers), list(validators))
        if ivdw not in (0, 11, 12):
            raise NafillInputError(f"ivdw = {ivdw} must be 11 (D3 zero damping), 12 (D3-BJ) or 0")
        if dipole not in DIPOLE_MODES:
            raise NafillInputError(f"dipole = {dipole!r} must be 'midplane', 'com' or None (off)")
        if spin not in SPIN_MODES:
            raise NafillInputError(f"spin = {spin!r} must be 'odd' (ISPIN 2 for odd Na counts), 'on' or 'off'")
        parallel_tags(*(None if isinstance(v, str) and v.startswith(">>") else v for v in (ncore, kpar)),
                      n_cores=1)  # refuses bad values now (">>env<<" ones are resolved on the worker)
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
        self.dipole = dipole
        self.spin = spin
        self.ncore = ncore
        self.kpar = kpar

    def settings(self) -> dict[str, Any]:
        return {"vasp_cmd": self.vasp_cmd, "incar": self.incar, "ivdw": self.ivdw, "potcar_spec": self.potcar_spec,
                "handlers": self.handlers, "validators": self.validators, "max_errors": self.max_errors,
                "dipole": self.dipole, "spin": self.spin}

    def _run_dir(self, label: str) -> Path:
        root = Path(self.workdir) if self.workdir else Path.cwd() / "vasp_runs"
        d = root / f"{label}-{uuid.uuid4().hex[:10]}"
        d.mkdir(parents=True, exist_ok=False)
        return d

    def _calculate(self, atoms: Atoms, fixed: Sequence[int], label: str, nsw: int, fmax: float | None,
                   charges: bool = False, directory: str | os.PathLike | None = None) -> RelaxResult:
        t0 = time.perf_counter()
        work = atoms.copy()
        work.set_constraint(FixAtoms(indices=list(fixed)) if len(fixed) else None)
        if directory is None:
            d = self._run_dir(label)
        else:
            d = Path(directory)
            d.mkdir(parents=True, exist_ok=True)
        write_inputs(work, d, self.incar, fmax, nsw, charges, self.ivdw, self.potcar_spec, self.dipole,
                     self.spin, parallel_tags(self.ncore, self.kpar))
        try:
            corrections = run_vasp(d, self.vasp_cmd, self.handlers, self.validators, self.max_errors,
                                   self.walltime_s, self.polling_s)
            res = read_vasp_run(d, template=work, order_file_optional=False, backend=self.name,
                                settings=self.settings())
        except (VaspRunError, VaspReadError) as exc:
            res = RelaxResult.failed(self.name, self.settings(), str(exc), time.perf_counter() - t0)
            res.extra["directory"] = str(d)
            return res
        res.wall_s = time.perf_counter() - t0
        res.corrections = corrections
        res.extra["directory"] = str(d)
        return res

    def relax(self, atoms: Atoms, fmax_eV_A: float = 0.01, max_steps: int = 200,
              fixed: Sequence[int] | None = None, initial_hessian=None) -> RelaxResult:
        """VASP relaxes with its own optimiser (IBRION), which takes no initial Hessian: an
        ``initial_hessian`` is ignored."""
        fix = host_indices(atoms) if fixed is None else np.asarray(fixed, int)
        return self._calculate(atoms, fix, "relax", int(max_steps), float(fmax_eV_A))

    def single_point(self, atoms: Atoms) -> RelaxResult:
        return self._calculate(atoms, list(range(len(atoms))), "static", 0, None)

    def relax_walls_and_na(self, atoms: Atoms, fmax_eV_A: float = 0.01, max_steps: int = 300) -> RelaxResult:
        return self._calculate(atoms, [], "spacing", int(max_steps), float(fmax_eV_A))

    def analyse_kept(self, atoms: Atoms, directory: str | os.PathLike | None = None) -> dict[str, Any]:
        """Charge analysis of the structure kept at a step: one static run (LCHARG = LAECHG = True)
        in its own folder (``directory``, default a new ``kept-...`` folder under ``workdir``) and
        the Na Bader valence from its CHGCAR and AECCARs.

        Returns ``{}`` with ``bader=False`` or without Na; else ``na_bader_valence`` (e/Na, None
        when the run failed), ``directory`` and ``error`` (None, or why the static run failed).
        """
        if not self.bader or len(guest_indices(atoms)) == 0:
            return {}
        if directory is None:
            directory = self._run_dir(f"kept-{len(guest_indices(atoms))}Na")
        res = self._calculate(atoms, list(range(len(atoms))), "kept", 0, None, charges=True, directory=directory)
        out: dict[str, Any] = {"directory": str(directory), "na_bader_valence": None, "error": res.error}
        if res.ok:
            try:
                out["na_bader_valence"] = na_valence_from_directory(directory)
            except Exception as exc:  # noqa: BLE001 - a failed analysis must not stop the fill
                out["error"] = f"Bader analysis failed: {type(exc).__name__}: {exc}"
        return out
