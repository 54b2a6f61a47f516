"""The VASP backend: input set (``inputs``), the one custodian call (``runner``), the one reader
of VASP run folders (``reader.read_vasp_run``), the backend itself (``backend``), Bader valence
(``bader``), the importer of hand-made studies (``importer``) and the stand-in executable
(``fake_vasp`` + ``vasprun_writer``)."""

from nafill.workflows.backends.vasp.backend import VaspBackend
from nafill.workflows.backends.vasp.bader import bader_charges_numpy, na_valence_from_directory
from nafill.workflows.backends.vasp.inputs import NafillVaspSet, kpoint_mesh, vasp_input_set, write_inputs
from nafill.workflows.backends.vasp.reader import VaspParseError, VaspReadError, read_vasp_run
from nafill.workflows.backends.vasp.runner import (
    DEFAULT_HANDLERS,
    DEFAULT_VALIDATORS,
    VaspRunError,
    check_handler_names,
    run_vasp,
)

__all__ = [
    "DEFAULT_HANDLERS", "DEFAULT_VALIDATORS", "NafillVaspSet", "VaspBackend", "VaspParseError", "VaspReadError",
    "VaspRunError", "bader_charges_numpy", "check_handler_names", "kpoint_mesh", "na_valence_from_directory",
    "read_vasp_run", "run_vasp", "vasp_input_set", "write_inputs",
]
