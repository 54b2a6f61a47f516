"""Backends by name: ``emt`` (default surrogate), ``mlip`` (SevenNet, optional extra) and any ASE
calculator given as ``module:factory`` with keyword arguments.

Unknown names and missing extras fail with a message saying what exists and how to install it.
"""

from __future__ import annotations

import importlib
from typing import Any

from nafill.errors import NafillInputError
from nafill.workflows.backends import emt_surrogate
from nafill.workflows.backends.base import AseCalculatorBackend, Backend, max_free_force
from nafill.workflows.backends.emt_surrogate import rigid_walls
from nafill.workflows.backends.mlip import MlipBackend
from nafill.workflows.backends.vasp.backend import VaspBackend
from nafill.workflows.engine.documents import RelaxResult

BUILTIN_BACKENDS = ("emt", "mlip", "vasp")


class EmtBackend(AseCalculatorBackend):
    """The ``emt`` surrogate (Na EMT + Na-host Morse): for tests and quick laptop runs.

    The host must stay frozen: the surrogate has no bonding inside the walls.
    """

    freeze_host_required = True

    def __init__(self, maxstep_A: float = 0.2) -> None:
        settings = {
            "model": "nafill NaCarbonEMT",
            "na_emt": list(emt_surrogate.NA_EMT_PARAMETERS),
            "na_host_morse": {k: list(v) for k, v in sorted(emt_surrogate.NA_HOST_MORSE.items())},
            "pair_switch_A": list(emt_surrogate.PAIR_SWITCH_A),
            "wall_lj": list(emt_surrogate.WALL_LJ),
        }
        super().__init__(emt_surrogate.NaCarbonEMT, "emt", settings, maxstep_A)

    def relax_walls_and_na(self, atoms, fmax_eV_A: float = 0.05, max_steps: int = 500):
        """Walls move as rigid sheets along z (the surrogate has no bonding inside a wall)."""
        import time

        import numpy as np
        from ase.optimize import BFGS

        t0 = time.perf_counter()
        work = atoms.copy()
        work.set_constraint(rigid_walls(work))
        work.calc = self.calculator
        opt = BFGS(work, logfile=None, maxstep=self.maxstep_A)
        converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
        e = work.get_potential_energy()
        fmax = max_free_force(work.get_forces(), np.ones(len(work), bool))
        work.set_constraint()
        work.calc = None
        return RelaxResult.from_atoms(work, e, fmax, opt.nsteps, converged, self.name,
                                      {**self.settings(), "walls": "rigid along z"}, time.perf_counter() - t0)


def default_fmax_eV_A(name: str) -> float:
    """Force threshold (eV/A) of a fill's relaxations with backend ``name`` when the policy sets
    none: 0.01 for ``vasp`` (the protocol's EDIFFG = -0.01), 0.05 for the others."""
    if str(name).strip().lower() == "vasp":
        return VaspBackend.default_fmax_eV_A
    return Backend.default_fmax_eV_A


def _import_factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise NafillInputError(
            f"calculator = {spec!r} must be 'emt', 'mlip' or 'module:factory' "
            "(e.g. 'ase.calculators.lj:LennardJones')"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NafillInputError(
            f"calculator = {spec!r}: cannot import module {module_name!r} ({exc}); install the "
            "package that provides it"
        ) from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise NafillInputError(f"calculator = {spec!r}: {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise NafillInputError(f"calculator = {spec!r} is not callable")
    return factory


def get_backend(name: str, **options: Any) -> Backend:
    """Return the backend called ``name`` with ``options``.

    * ``emt``: options ``maxstep_A``.
    * ``mlip``: options ``model`` (default ``7net-0``), ``dispersion`` (None, ``d3-zero``,
      ``d3-bj``), ``d3_cutoff_bohr``; needs the mlip extra (:data:`nafill.workflows.backends.mlip.INSTALL_HINT`).
    * ``vasp``: VASP through custodian (:mod:`nafill.workflows.backends.vasp.backend` lists the options).
    * ``module:factory``: every option is passed to the factory as a keyword argument.
    """
    key = str(name).strip()
    if key.lower() == "emt":
        return EmtBackend(**options)
    if key.lower() == "mlip":
        return MlipBackend(**options)
    if key.lower() == "vasp":
        return VaspBackend(**options)
    if ":" not in key:
        raise NafillInputError(
            f"calculator = {name!r} is unknown; use one of {', '.join(BUILTIN_BACKENDS)} or "
            "'module:factory' for any ASE calculator"
        )
    factory = _import_factory(key)
    kwargs = dict(options)

    def make():
        return factory(**kwargs)

    try:
        make()
    except Exception as exc:  # noqa: BLE001
        raise NafillInputError(f"calculator = {name!r} with options {kwargs} fails to build: {exc}") from None
    settings = {"factory": key, "kwargs": {k: repr(v) for k, v in sorted(kwargs.items())}}
    return AseCalculatorBackend(make, key, settings)
