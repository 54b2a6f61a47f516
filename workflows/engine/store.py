"""A run folder: ``path.json`` (the document), ``path.extxyz`` (kept structures), plots.

Every write is atomic (temporary file + rename, fsync), so a run killed at any moment leaves the
last complete step on disk, and running the same command again resumes from it. One process at a
time writes a run folder (:func:`run_lock`, ``.nafill.lock``: a second writer is refused with the
first one's PID; the lock of a killed process is taken over), and a save never replaces a path
with a shorter one (:class:`RunStore`).
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

from ase import Atoms

from nafill.errors import NafillInputError, NafillRunError
from nafill.locks import ProcessLock
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
LOCK_NAME = ".nafill.lock"


def run_lock(out_dir) -> ProcessLock:
    """The exclusive lock of a run folder (one writer at a time, whatever the engine)."""
    return ProcessLock(Path(out_dir) / LOCK_NAME, f"the run folder {str(out_dir)!r}",
                       "wait for it to finish, or choose another --out")


def check_out_dir(out_dir, flag: str = "--out") -> Path:
    """Refuse an output folder nafill cannot write, before anything is computed or submitted.

    Nothing is created here: the nearest existing ancestor must be a writable folder (probed with a
    temporary file that is removed at once), ``out_dir`` itself a folder if it exists.
    """
    raw = str(out_dir) if out_dir is not None else ""
    if not raw.strip():
        raise NafillInputError(f"{flag} = {raw!r} is empty; name an output folder (e.g. {flag} runs/c182)")
    p = Path(raw).expanduser()
    if p.exists() and not p.is_dir():
        raise NafillInputError(f"{flag} = {raw!r} exists and is not a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise NafillInputError(f"{flag} = {raw!r}: {str(probe)!r} is a file, not a folder")
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=".nafill_probe_", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise NafillInputError(f"{flag} = {raw!r}: cannot write in {str(probe)!r} ({exc.strerror or exc})") from None
    return p


def steps_on_disk(out_dir) -> int:
    """Steps in ``out_dir/path.json`` (0 when there is none or it cannot be read)."""
    p = Path(out_dir) / PATH_JSON
    try:
        return len(json.loads(p.read_text()).get("steps", []))
    except (OSError, ValueError, AttributeError):
        return 0


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
        self.kept_more_steps: int | None = None
        """Set by :meth:`load_for_resume` when the run holds more steps than the new ``max_na``."""

    @property
    def path_json(self) -> Path:
        return self.dir / PATH_JSON

    def save(self, path: FillingPath) -> None:
        """Write ``path.json`` and ``path.extxyz`` atomically; never a shorter path over a longer one."""
        on_disk = steps_on_disk(self.dir)
        if on_disk > len(path.steps):
            raise NafillRunError(
                f"{str(self.path_json)!r} holds {on_disk} steps, the path to write only {len(path.steps)}; "
                "kept the folder as it is (pass --overwrite, or another --out, to start again)")
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
        old_max = path.policy.get("max_na")
        for k in FillingPolicy.NON_PHYSICAL:
            path.policy[k] = getattr(policy, k)
        if policy.max_na is not None and len(path.steps) > policy.max_na:
            # never truncate: the run keeps its steps (and the max_na that produced them)
            path.policy["max_na"] = old_max if old_max is not None and old_max >= len(path.steps) else len(path.steps)
            self.kept_more_steps = len(path.steps)
        was = path.state.get("stop_reason") or ""
        if not (path.state.get("finished") and not was.startswith(("reached max_na", "H stayed"))):
            reason = stop_reason(path)  # a full pore stays finished
            path.state["finished"] = reason is not None
            path.state["stop_reason"] = reason
        path.summary = summarize(path)
        log.info("resuming %s after %d steps", self.dir, len(path.steps))
        return path
