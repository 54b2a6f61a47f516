"""FireWorks workflow builders: filling, orifice scan, connected-pore study (spacing: ``spacing.py``).

Builders return ``fireworks.Workflow`` objects; nothing runs until a LaunchPad launches them
(``nafill run``, or ``rlaunch``/``qlaunch`` on a cluster). All settings travel in every
Firework's spec (see :mod:`nafill.workflows.fireworks.tasks`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from ase import Atoms

from nafill.errors import NafillInputError, check_int
from nafill.io import atoms_to_dict
from nafill.structures.capacity import pore_capacity
from nafill.structures.connected import connected_pore
from nafill.structures.pores import cavity, orifice
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.fireworks.env import Workflow
from nafill.workflows.fireworks.tasks import StartFillTask, make_firework

DEFAULT_BATCH = {"emt": None, "mlip": None, "vasp": 1}
"""Candidates per relax Firework by backend: None = all in one (surrogates), 1 = one each (VASP)."""


def fill_key(host: Atoms, backend: dict[str, Any], policy: FillingPolicy, tag: str = "") -> str:
    """Deterministic identity of a fill (host, backend, path-determining policy, tag)."""
    blob = json.dumps({"host": atoms_to_dict(host), "backend": backend, "policy": policy.physical(),
                       "tag": tag}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def filling_workflow(
    host: Atoms,
    backend: str = "emt",
    backend_options: dict[str, Any] | None = None,
    policy: FillingPolicy | None = None,
    name: str | None = None,
    batch_size: int | None | str = "default",
    modifications: dict[str, Any] | None = None,
    custodian: dict[str, Any] | None = None,
    fault_injection: dict[str, Any] | None = None,
    key: str | None = None,
) -> Workflow:
    """A dynamic filling workflow for ``host`` (validated here, before anything is submitted).

    Args:
        host: empty pore (carbon frozen).
        backend, backend_options: as for :func:`nafill.workflows.backends.registry.get_backend`.
        policy: search policy (validated against the host's capacity).
        name: workflow name (default from the pore).
        batch_size: candidates per relax Firework; ``"default"`` = all for surrogates, 1 for VASP.
        modifications: spec entries added to every Firework, static and dynamic
            (``_fworker``, ``_category``, ``_queueadapter``, ``_priority`` ...).
        custodian: options of the VASP runner (handlers, max_errors, walltime), carried along.
        fault_injection: testing/dry-run aid: ``{"fizzle_relax": [[n_na, index], ...]}``.
        key: identity stored in the metadata (``nafill fill`` uses it to resume its own run).
    """
    policy = policy or FillingPolicy()
    be = get_backend(backend, **(backend_options or {}))  # refuses unknown names/missing extras now
    policy.validate(pore_capacity(host), be)
    if batch_size == "default":
        batch_size = DEFAULT_BATCH.get(backend, None)
    if batch_size is not None:
        check_int("batch_size", batch_size, 1, 10000)
    label = name or f"nafill fill {host.info.get('pore_kind', 'pore')} {host.info.get('spacing_nm', '')}".strip()
    path_id = uuid.uuid4().hex
    settings = {
        "name": label,
        "path_id": path_id,
        "backend": {"name": backend, "options": dict(backend_options or {})},
        "policy": policy.as_dict(),
        "batch_size": batch_size,
        "custodian": dict(custodian or {}),
        "modifications": dict(modifications or {}),
        "fault_injection": dict(fault_injection or {}),
    }
    fw = make_firework(StartFillTask(host=atoms_to_dict(host), settings=settings), settings, f"{label}: start")
    meta = {"nafill_kind": "fill", "nafill_path_id": path_id, "nafill_backend": be.describe()["fingerprint"],
            "nafill_key": key or fill_key(host, settings["backend"], policy)}
    return Workflow([fw], name=label, metadata=meta)


def orifice_scan_workflows(
    spacings_nm: Sequence[float], backend: str = "emt", backend_options=None, policy: FillingPolicy | None = None,
    **kw: Any,
) -> list[Workflow]:
    """One filling workflow per orifice spacing (nm), tagged as one study."""
    if not spacings_nm:
        raise NafillInputError("spacings_nm must list at least one orifice spacing")
    study = uuid.uuid4().hex[:8]
    out = []
    for s in spacings_nm:
        p = FillingPolicy.from_dict((policy or FillingPolicy()).as_dict())
        wf = filling_workflow(orifice(s), backend, backend_options, p, name=f"orifice scan {study}: {s:g} nm", **kw)
        wf.metadata.update(nafill_study=study, nafill_study_kind="orifice-scan")
        out.append(wf)
    return out


def connected_study_workflows(
    spacings_nm: Sequence[float], backend: str = "emt", backend_options=None, policy: FillingPolicy | None = None,
    **kw: Any,
) -> list[Workflow]:
    """The widest cavity filled alone and joined to the narrower parts: one submission.

    With ``policy.max_na`` unset each fill runs to its own theoretical capacity. The connected
    pore fills narrow first (``fill_order="narrow-first"``, the published mechanism) unless the
    policy names another order than the default.
    """
    spacings = list(spacings_nm)
    conn = connected_pore(spacings)  # validates the spacings
    study = uuid.uuid4().hex[:8]
    hosts = [(cavity(max(spacings)), f"cavity {max(spacings):g} nm alone"),
             (conn, f"connected {'+'.join(f'{s:g}' for s in spacings)} nm")]
    out = []
    for host, label in hosts:
        p = FillingPolicy.from_dict((policy or FillingPolicy()).as_dict())
        if p.max_na is not None:
            p.max_na = min(p.max_na, pore_capacity(host))
        if host is conn and p.fill_order == "energy":
            p.fill_order = "narrow-first"
        wf = filling_workflow(host, backend, backend_options, p, name=f"connected study {study}: {label}", **kw)
        wf.metadata.update(nafill_study=study, nafill_study_kind="connected")
        out.append(wf)
    return out
