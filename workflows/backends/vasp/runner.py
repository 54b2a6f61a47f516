"""The one function that runs VASP: custodian's ``VaspJob`` with handlers chosen by name.

Every VASP calculation in nafill goes through :func:`run_vasp` (as atomate2's ``run_vasp``), so
tests and dry runs patch or stand in for exactly one place.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from nafill.errors import NafillInputError

log = logging.getLogger(__name__)

DEFAULT_HANDLERS = (
    "VaspErrorHandler",
    "UnconvergedErrorHandler",
    "NonConvergingErrorHandler",
    "PositiveEnergyErrorHandler",
    "FrozenJobErrorHandler",
    "StdErrHandler",
)
DEFAULT_VALIDATORS = ("VasprunXMLValidator",)


class VaspRunError(RuntimeError):
    """VASP (under custodian) did not produce a usable result; the message says why."""


def _handler_classes() -> dict[str, Any]:
    from custodian.vasp import handlers as h

    names = ["VaspErrorHandler", "UnconvergedErrorHandler", "NonConvergingErrorHandler",
             "PositiveEnergyErrorHandler", "FrozenJobErrorHandler", "StdErrHandler", "WalltimeHandler",
             "MeshSymmetryErrorHandler", "PotimErrorHandler", "LrfCommutatorHandler", "AliasingErrorHandler",
             "DriftErrorHandler", "LargeSigmaHandler", "IncorrectSmearingHandler", "KspacingMetalHandler"]
    return {n: getattr(h, n) for n in names if hasattr(h, n)}


def _validator_classes() -> dict[str, Any]:
    from custodian.vasp import validators as v

    return {n: getattr(v, n) for n in ("VasprunXMLValidator", "VaspFilesValidator", "VaspNpTMDValidator",
                                        "VaspAECCARValidator") if hasattr(v, n)}


def check_handler_names(handlers, validators=DEFAULT_VALIDATORS) -> None:
    """Refuse unknown handler or validator names (before anything runs)."""
    known = _handler_classes()
    bad = [n for n in handlers if n not in known]
    if bad:
        raise NafillInputError(f"handlers = {bad} are unknown custodian VASP handlers; known: {', '.join(sorted(known))}")
    known_v = _validator_classes()
    bad_v = [n for n in validators if n not in known_v]
    if bad_v:
        raise NafillInputError(f"validators = {bad_v} are unknown; known: {', '.join(sorted(known_v))}")


def make_handlers(names, walltime_s: float | None = None) -> list:
    check_handler_names(names)
    classes = _handler_classes()
    out = []
    for n in names:
        if n == "WalltimeHandler":
            out.append(classes[n](wall_time=walltime_s))
        else:
            out.append(classes[n]())
    if walltime_s and "WalltimeHandler" not in names:
        out.append(classes["WalltimeHandler"](wall_time=walltime_s))
    return out


def run_vasp(
    directory: str | os.PathLike,
    vasp_cmd: str,
    handlers=DEFAULT_HANDLERS,
    validators=DEFAULT_VALIDATORS,
    max_errors: int = 5,
    walltime_s: float | None = None,
    polling_time_s: float = 10.0,
    job: str = "vasp",
) -> list[dict[str, Any]]:
    """Run VASP in ``directory`` under custodian; return the corrections applied.

    ``job="neb"`` runs a VTST NEB folder (``00`` ... ``NN``) with custodian's ``VaspNEBJob``
    (not exercised by the stand-in, which runs single calculations only).

    A restart (a ``CONTCAR`` from an earlier attempt in the folder) always starts from CONTCAR,
    never from the initial POSCAR. Raises :class:`VaspRunError` with custodian's reason when the
    run cannot be corrected (too many errors, a validator failing, a non-recoverable error).
    """
    from custodian import Custodian
    from custodian.vasp.jobs import VaspJob, VaspNEBJob

    directory = Path(directory)
    if job not in ("vasp", "neb"):
        raise NafillInputError(f"job = {job!r} must be 'vasp' or 'neb'")
    check_handler_names(handlers, validators)
    contcar = directory / "CONTCAR"
    if job == "vasp" and contcar.is_file() and contcar.stat().st_size > 0:
        shutil.copy(contcar, directory / "POSCAR")
        log.info("restarting %s from its CONTCAR", directory)
    if job == "neb":
        vjob = VaspNEBJob(shlex.split(vasp_cmd), auto_npar=False, final=True, backup=True)
        validators = ()
    else:
        vjob = VaspJob(shlex.split(vasp_cmd), auto_npar=False, final=True, backup=True)
    vclasses = _validator_classes()
    c = Custodian(
        make_handlers(handlers, walltime_s),
        [vjob],
        validators=[vclasses[v]() for v in validators],
        max_errors=max_errors,
        polling_time_step=polling_time_s,
        monitor_freq=max(1, int(30 * 10 / max(polling_time_s, 1e-3))) if polling_time_s < 10 else 30,
        directory=str(directory),
    )
    cwd = os.getcwd()
    try:
        log_entries = c.run()
    except Exception as exc:  # noqa: BLE001 - custodian raises many kinds; all mean "no result"
        raise VaspRunError(f"VASP in {directory} failed under custodian: {type(exc).__name__}: {exc}"
                           f"{_validator_reason(exc, directory)}") from None
    finally:
        os.chdir(cwd)
    corrections: list[dict[str, Any]] = []
    for entry in log_entries or []:
        for corr in entry.get("corrections", []):
            corrections.append({"errors": [str(e) for e in corr.get("errors", [])],
                                "handler": type(corr.get("handler")).__name__ if corr.get("handler") else None,
                                "actions": _jsonable(corr.get("actions"))})
    return corrections


def _validator_reason(exc: Exception, directory: Path) -> str:
    """Why custodian's VasprunXMLValidator failed, which custodian itself only logs: the reader's
    message for the folder (e.g. the XML parser's "Premature end of data ..."), as " (...)"."""
    from custodian.custodian import ValidationError

    validator = getattr(exc, "validator", None)
    if not isinstance(exc, ValidationError) or type(validator).__name__ != "VasprunXMLValidator":
        return ""
    from nafill.workflows.backends.vasp.reader import VaspReadError, read_vasp_run

    try:
        read_vasp_run(directory, run_stats=False)
    except VaspReadError as err:
        return f" ({err})"
    except Exception as err:  # noqa: BLE001 - the reason is a nicety on top of the error
        return f" ({type(err).__name__}: {err})"
    return ""


def _jsonable(x):
    import json

    try:
        return json.loads(json.dumps(x, default=str))
    except (TypeError, ValueError):
        return str(x)
