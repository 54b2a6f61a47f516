"""The spacing study on FireWorks: relax k-Na-layer models, then fill each resulting cavity.

:class:`RelaxSpacingTask` runs the science of :mod:`nafill.workflows.studies.spacing` and adds a
filling workflow (:func:`nafill.workflows.fireworks.builders.filling_workflow`) for the relaxed
cavity; :func:`spacing_workflow` builds one such Firework per layer count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from nafill.errors import NafillInputError, check_int
from nafill.structures.capacity import pore_capacity
from nafill.structures.pores import cavity
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.ladder import CostMeter
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.fireworks.builders import DEFAULT_BATCH, filling_workflow
from nafill.workflows.fireworks.env import FiretaskBase, FWAction, Workflow, explicit_serialize
from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION, checkpoint, current_launchpad
from nafill.workflows.fireworks.tasks import SETTINGS_KEY, backend_from_settings, make_firework
from nafill.workflows.studies.spacing import relaxed_layer_spacing


@explicit_serialize
class RelaxSpacingTask(FiretaskBase):
    """Relax the k-Na-layer model (walls and Na), record the spacing, submit the cavity's fill.

    The relaxed wall spacing becomes a cavity (same lateral cell), and a filling workflow with the
    study's settings is added to the LaunchPad (once: a re-run finds the record and skips).
    """

    required_params = ["layers", "study"]
    optional_params = ["fmax_eV_A", "supercell", "fill"]

    def run_task(self, fw_spec):
        settings = fw_spec[SETTINGS_KEY]
        layers, study = int(self["layers"]), str(self["study"])
        lp = current_launchpad(self)
        coll = lp.db[SPACINGS_COLLECTION]
        done = coll.find_one({"study": study, "layers": layers})
        fill = bool(self.get("fill", True))
        if done is not None and (done.get("fill_wf_id") is not None or not fill):
            return FWAction(stored_data={"spacing_nm": done["spacing_nm"]})
        supercell = tuple(self.get("supercell") or (4, 4))
        res, spacing_nm = relaxed_layer_spacing(backend_from_settings(settings, fw_spec), layers, supercell,
                                                float(self.get("fmax_eV_A", 0.02)))
        meter = CostMeter()
        meter.add(res.backend or settings["backend"]["name"], res)
        record = {"study": study, "layers": layers, "spacing_nm": spacing_nm, "energy_eV": res.energy_eV,
                  "converged": res.converged, "n_ionic_steps": res.n_ionic_steps, "structure": res.structure,
                  "fill_wf_id": None, "cost": meter.as_dict()}
        if not fill:  # the spacing alone (the whole-study command fills its own cavities)
            coll.replace_one({"study": study, "layers": layers}, record, upsert=True)
            checkpoint(lp)
            return FWAction(stored_data={"spacing_nm": spacing_nm})
        host = cavity(spacing_nm, supercell)
        policy = FillingPolicy.from_dict(settings["policy"])
        policy.max_na = None if policy.max_na is None else min(policy.max_na, pore_capacity(host))
        wf = filling_workflow(host, settings["backend"]["name"], settings["backend"].get("options"), policy,
                              name=f"spacing study {study}: {layers} layers -> cavity {spacing_nm:g} nm",
                              batch_size=settings.get("batch_size"), modifications=settings.get("modifications"),
                              custodian=settings.get("custodian"))
        wf.metadata.update(nafill_study=study, nafill_study_kind="spacing", nafill_layers=layers)
        fill_id = min(lp.add_wf(wf).values())
        coll.replace_one({"study": study, "layers": layers}, {**record, "fill_wf_id": fill_id}, upsert=True)
        checkpoint(lp)
        return FWAction(stored_data={"spacing_nm": spacing_nm, "fill_wf_id": fill_id})


def spacing_workflow(
    layers: Sequence[int] = (2, 3, 4, 5, 6, 7),
    backend: str = "emt",
    backend_options: dict[str, Any] | None = None,
    policy: FillingPolicy | None = None,
    supercell: tuple[int, int] = (4, 4),
    fmax_eV_A: float = 0.02,
    modifications: dict[str, Any] | None = None,
    custodian: dict[str, Any] | None = None,
    batch_size: int | None | str = "default",
    fill: bool = True,
) -> Workflow:
    """Relax k = ``layers`` Na-layer models (walls and Na), then fill each resulting cavity.

    One Firework per layer count; each adds, once relaxed, a filling workflow for the cavity of
    its relaxed spacing (``fill=False``: the spacing only). The spacings go to the
    ``nafill_spacings`` collection.
    """
    if not layers:
        raise NafillInputError("layers must list at least one Na layer count (1..7)")
    for k in layers:
        check_int("layers", k, 1, 7)
    get_backend(backend, **(backend_options or {}))
    policy = policy or FillingPolicy()
    policy.validate(backend=backend)
    if batch_size == "default":
        batch_size = DEFAULT_BATCH.get(backend, None)
    study = uuid.uuid4().hex[:8]
    settings = {"name": f"spacing study {study}", "path_id": None,
                "backend": {"name": backend, "options": dict(backend_options or {})},
                "policy": policy.as_dict(), "batch_size": batch_size, "custodian": dict(custodian or {}),
                "modifications": dict(modifications or {}), "fault_injection": {}}
    fws = [make_firework(RelaxSpacingTask(layers=int(k), study=study, fmax_eV_A=fmax_eV_A, supercell=list(supercell),
                                          fill=bool(fill)),
                         settings, f"spacing study {study}: relax {k} layers") for k in layers]
    return Workflow(fws, name=f"spacing study {study}",
                    metadata={"nafill_kind": "spacing", "nafill_study": study, "nafill_study_kind": "spacing"})
