"""Backends by name: ``surrogate`` (default: SevenNet-0 distilled, numpy), ``emt`` (workflow tests
only), ``mlip`` (SevenNet, optional extra), ``vasp`` and any ASE calculator given as
``module:factory`` with keyword arguments.

Unknown names and missing extras fail with a message saying what exists and how to install it.
"""

from __future__ import annotations

import importlib
from typing import Any

from nafill.constants import EMT_CAVEAT, TEST_ONLY_BACKENDS  # noqa: F401 - re-exported
from nafill.errors import NafillInputError
from nafill.workflows.backends import emt_surrogate
from nafill.workflows.backends.base import AseCalculatorBackend, Backend, FrozenHostBackend
from nafill.workflows.backends.mlip import MlipBackend
from nafill.workflows.backends.surrogate.backend import SurrogateBackend
from nafill.workflows.backends.vasp.backend import VaspBackend

BUILTIN_BACKENDS = ("surrogate", "emt", "mlip", "vasp")
DEFAULT_BACKEND = "surrogate"
"""The backend of ``nafill fill`` when none is named: physically sound (fitted to SevenNet-0) and fast."""



class EmtBackend(FrozenHostBackend):
    """The ``emt`` surrogate (Na EMT + Na-host Morse): for workflow tests only, not physics.

    It overbinds small Na clusters and Na films on the walls, so its profiles have no real
    nucleation barrier (:data:`EMT_CAVEAT`). The host must stay frozen.
    """

    def __init__(self, maxstep_A: float = 0.2) -> None:
        settings = {
            "model": "nafill NaCarbonEMT",
            "na_emt": list(emt_surrogate.NA_EMT_PARAMETERS),
            "na_host_morse": {k: list(v) for k, v in sorted(emt_surrogate.NA_HOST_MORSE.items())},
            "pair_switch_A": list(emt_surrogate.PAIR_SWITCH_A),
            "wall_lj": list(emt_surrogate.WALL_LJ),
        }
        super().__init__(emt_surrogate.NaCarbonEMT, "emt", settings, maxstep_A)


def default_fmax_eV_A(name: str) -> float:
    """Force threshold (eV/A) of a fill's relaxations with backend ``name`` when the policy sets
    none: 0.01 for ``vasp`` (the protocol's EDIFFG = -0.01), 0.05 for the others."""
    if str(name).strip().lower() == "vasp":
        return VaspBackend.default_fmax_eV_A
    return Backend.default_fmax_eV_A


def takes_initial_hessian(name: str) -> bool:
    """Whether backend ``name``'s relaxations use an initial Hessian: not ``vasp`` (its own
    optimiser), every ASE-calculator backend."""
    if str(name).strip().lower() == "vasp":
        return VaspBackend.takes_initial_hessian
    return AseCalculatorBackend.takes_initial_hessian


def searches_every_step(name: str | None) -> bool:
    """Whether a single-fidelity fill on backend ``name`` makes its perturbation and nucleation
    moves at every step (:attr:`Backend.searches_every_step`: the ``surrogate``)."""
    cls = {"surrogate": SurrogateBackend}.get(str(name or "").strip().lower())
    return bool(cls is not None and cls.searches_every_step)


def _import_factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise NafillInputError(
            f"calculator = {spec!r} must be 'surrogate', 'emt', 'mlip', 'vasp' or 'module:factory' "
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

    * ``surrogate`` (default): SevenNet-0 distilled into a numpy model; options ``maxstep_A``,
      ``parameters_file``.
    * ``emt``: workflow tests only (:data:`EMT_CAVEAT`); options ``maxstep_A``.
    * ``mlip``: options ``model`` (default ``7net-0``), ``dispersion`` (None, ``d3-zero``,
      ``d3-bj``), ``d3_cutoff_bohr``; needs the mlip extra (:data:`nafill.workflows.backends.mlip.INSTALL_HINT`).
    * ``vasp``: VASP through custodian (:mod:`nafill.workflows.backends.vasp.backend` lists the options).
    * ``module:factory``: every option is passed to the factory as a keyword argument.
    """
    key = str(name).strip()
    if key.lower() == "surrogate":
        return SurrogateBackend(**options)
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


def checked_backend(name: str, options: dict[str, Any] | None = None, flag: str = "--calc-option") -> Backend:
    """:func:`get_backend` with an option the backend does not take, or cannot use (a missing or
    unreadable parameter file), refused as bad input naming ``flag`` (not a TypeError mid-run);
    the backend's settings are described once here, so settings that cannot be fail now."""
    options = dict(options or {})
    try:
        backend = get_backend(name, **options)
        backend.fingerprint()
        return backend
    except NafillInputError:
        raise
    except (TypeError, ValueError, KeyError, OSError) as exc:
        msg = str(exc).split("() ", 1)[-1]
        raise NafillInputError(f"{flag}: the {name} backend refuses {options}: {msg}") from None
