"""The orifice diffusion barrier on FireWorks: one Firework per orifice spacing.

:class:`OrificeNebTask` runs :func:`nafill.workflows.studies.neb.orifice_hop_neb` with the
workflow's backend and stores the result (every image energy included, no structures) in the
``nafill_neb`` collection under the workflow's key; a re-run finds the record and skips.
"""

from __future__ import annotations

from typing import Any

from nafill.errors import check_range
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.fireworks.env import FiretaskBase, FWAction, Workflow, explicit_serialize
from nafill.workflows.fireworks.launchpad import checkpoint, current_launchpad
from nafill.workflows.fireworks.tasks import SETTINGS_KEY, backend_from_settings, make_firework

NEB_COLLECTION = "nafill_neb"
"""Collection of NEB results (one document per key)."""


@explicit_serialize
class OrificeNebTask(FiretaskBase):
    """Climbing-image NEB of one Na hop between adjacent minima in an orifice of ``spacing_nm``."""

    required_params = ["spacing_nm", "key"]
    optional_params = ["n_images", "fmax_eV_A", "supercell"]

    def run_task(self, fw_spec):
        from nafill.workflows.studies.neb import orifice_hop_neb

        settings = fw_spec[SETTINGS_KEY]
        lp = current_launchpad(self)
        coll = lp.db[NEB_COLLECTION]
        done = coll.find_one({"key": self["key"]})
        if done is not None:
            return FWAction(stored_data={"barrier_eV": done["result"]["barrier_eV"]})
        backend = backend_from_settings(settings, fw_spec)
        res = orifice_hop_neb(float(self["spacing_nm"]), backend, n_images=int(self.get("n_images", 6)),
                              fmax_eV_A=float(self.get("fmax_eV_A", 0.05)),
                              supercell=tuple(self.get("supercell") or (4, 4)))
        doc = {"key": self["key"], "spacing_nm": float(self["spacing_nm"]), "backend": backend.describe(),
               "result": res.as_dict()}
        coll.replace_one({"key": self["key"]}, doc, upsert=True)
        checkpoint(lp)
        return FWAction(stored_data={"barrier_eV": res.barrier_eV, "climbed": res.climbed})


def neb_workflow(
    spacing_nm: float,
    key: str,
    backend: str = "emt",
    backend_options: dict[str, Any] | None = None,
    n_images: int = 6,
    fmax_eV_A: float = 0.05,
    name: str | None = None,
    modifications: dict[str, Any] | None = None,
) -> Workflow:
    """One orifice NEB as a workflow (the result goes to ``nafill_neb`` under ``key``)."""
    check_range("spacing_nm", spacing_nm, 0.30, 5.0, "nm")
    be = get_backend(backend, **(backend_options or {}))
    if not hasattr(be, "factory"):
        from nafill.errors import NafillInputError

        raise NafillInputError(f"calculator = {backend!r}: the orifice NEB needs an ASE-based backend "
                               "(VASP: write VTST inputs with nafill neb --vasp-inputs)")
    label = name or f"orifice NEB {spacing_nm:g} nm"
    settings = {"name": label, "path_id": None, "backend": {"name": backend, "options": dict(backend_options or {})},
                "modifications": dict(modifications or {})}
    fw = make_firework(OrificeNebTask(spacing_nm=float(spacing_nm), key=key, n_images=int(n_images),
                                      fmax_eV_A=float(fmax_eV_A)), settings, label)
    return Workflow([fw], name=label, metadata={"nafill_kind": "neb", "nafill_key": key,
                                                "nafill_backend": be.describe()["fingerprint"]})
