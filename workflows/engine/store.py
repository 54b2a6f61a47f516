"""A run folder: ``path.json`` (the document), ``path.extxyz`` (kept structures), plots.

Every write is atomic (temporary file + rename), so a run killed at any moment leaves the last
complete step on disk, and running the same command again resumes from it.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from ase import Atoms

from nafill.errors import NafillInputError
from nafill.io import atomic_write_text, atoms_to_dict
from nafill.structures.capacity import pore_capacity
from nafill.workflows.backends.base import Backend
from nafill.workflows.engine.documents import PATH_SCHEMA, FillingPath
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.references import host_hash
from nafill.workflows.engine.summary import stop_reason, summarize

log = logging.getLogger(__name__)

PATH_JSON = "path.json"
PATH_EXTXYZ = "path.extxyz"
PROFILE_PNG = "profile.png"


def load_path(source) -> FillingPath:
    """Load a path document from a ``path.json`` file or a run folder, with clear errors."""
    p = Path(source)
    if p.is_dir():
        p = p / PATH_JSON
    if not p.is_file():
        raise NafillInputError(f"no path document at {str(p)!r} (expected a run folder or path.json)")
    try:
        d = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NafillInputError(f"{str(p)!r} is not valid JSON (truncated or corrupted?): {exc}") from None
    if not isinstance(d, dict) or d.get("schema") != PATH_SCHEMA:
        raise NafillInputError(f"{str(p)!r} is not a nafill path document (schema {PATH_SCHEMA})")
    missing = [k for k in ("host", "backend", "policy", "reference", "steps") if k not in d]
    if missing:
        raise NafillInputError(f"{str(p)!r} lacks the keys {missing} (truncated or corrupted?)")
    for k, s in enumerate(d["steps"]):
        for key in ("n_na", "energy_eV", "formation_enthalpy_eV", "step_voltage_V"):
            if not isinstance(s, dict) or key not in s:
                raise NafillInputError(f"{str(p)!r}: step {k} lacks {key!r} (corrupted?)")
    return FillingPath.from_dict(d)


def extxyz_text(path: FillingPath) -> str:
    """The kept structure of every step as extended XYZ, energies and H in ``info``."""
    from ase.io import write

    buf = io.StringIO()
    frames = []
    for s in path.step_records():
        a = s.atoms()
        a.set_constraint()
        a.info = {
            "n_na": s.n_na,
            "energy_eV": s.energy_eV,
            "formation_enthalpy_eV": s.formation_enthalpy_eV,
            "step_voltage_V": s.step_voltage_V,
        }
        frames.append(a)
    if frames:
        write(buf, frames, format="extxyz")
    return buf.getvalue()


class RunStore:
    """The output folder of one fill."""

    def __init__(self, out_dir) -> None:
        self.dir = Path(out_dir)

    @property
    def path_json(self) -> Path:
        return self.dir / PATH_JSON

    def save(self, path: FillingPath) -> None:
        """Write ``path.json`` and ``path.extxyz`` atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path_json, json.dumps(path.as_dict()))
        atomic_write_text(self.dir / PATH_EXTXYZ, extxyz_text(path))

    def load_for_resume(self, host: Atoms, backend: Backend, policy) -> FillingPath | None:
        """The run in this folder if it is the same fill (host, backend, policy), else refuse.

        Returns None when the folder holds no run. Fields that do not change the path computed
        so far (``max_na``, ``workers``, the stop rule) are taken from ``policy``.
        """
        if not self.path_json.exists():
            return None
        path = load_path(self.path_json)
        policy.validate(pore_capacity(host), backend)
        old = FillingPolicy.from_dict(path.policy)
        diffs = []
        if path.reference.get("host_hash") != host_hash(host) and path.host != atoms_to_dict(host):
            diffs.append("host")
        if path.backend.get("fingerprint") != backend.fingerprint():
            diffs.append("backend")
        diffs += [f"policy.{k}" for k, v in policy.physical().items() if old.physical().get(k) != v]
        if diffs:
            raise NafillInputError(
                f"{str(self.dir)!r} holds a different run (differs in {', '.join(diffs)}); choose "
                "another output folder or pass --overwrite to start again"
            )
        for k in FillingPolicy.NON_PHYSICAL:
            path.policy[k] = getattr(policy, k)
        reason = stop_reason(path)
        path.state["finished"] = reason is not None
        path.state["stop_reason"] = reason
        path.summary = summarize(path)
        log.info("resuming %s after %d steps", self.dir, len(path.steps))
        return path
