"""Compatibility: the VASP backend moved to :mod:`nafill.workflows.backends.vasp`; its public
names stay importable from here."""

from nafill.workflows.backends.vasp import *  # noqa: F401,F403
from nafill.workflows.backends.vasp import __all__  # noqa: F401
