"""Thin FireWorks tasks around the filling engine (the step logic lives in ``engine/steps.py``).

One filling step is three kinds of Firework:

``PlanStepTask``  -> ``RelaxCandidatesTask`` x N (one per candidate, or batched) -> ``SelectStepTask``

Plan proposes and pre-screens the candidates (:func:`~nafill.workflows.engine.steps.plan_step`) and
adds the relax Fireworks and the select Firework as a sub-workflow; each relax Firework pushes
its results into the select Firework's spec; select completes the step
(:func:`~nafill.workflows.engine.steps.complete_step`), writes the path document to the
``nafill_paths`` collection and adds the next plan Firework. Every added Firework gets the
workflow's settings (backend, policy, batch size, custodian options) and its spec
``modifications`` (``_fworker``, ``_category``, ``_queueadapter`` ...) in its own spec, because
``update_spec`` does not reach dynamically added Fireworks.

Structures travel by reference (:mod:`nafill.workflows.fireworks.structure_refs`): a relax
Firework's spec names its candidates in a pack, it pushes references to its relaxed structures,
and the path document names its kept structures by content address; the tasks hydrate what they
need. The LaunchPad holds energies, states and references, so its cost per step stays small.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
from typing import Any

from nafill.errors import NafillRunError
from nafill.io import atoms_from_dict
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.documents import FillingPath, RelaxResult
from nafill.workflows.engine.hessian import initial_hessian
from nafill.workflows.engine.ladder import CostMeter
from nafill.workflows.engine.loop import start_path
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.steps import (
    PoreFullError,
    StepPlan,
    analyse_kept_step,
    complete_step,
    extend_step,
    plan_step,
)
from nafill.workflows.engine.summary import finish
from nafill.workflows.fireworks.env import Firework, FiretaskBase, FWAction, Workflow, explicit_serialize
from nafill.workflows.fireworks.launchpad import checkpoint, current_launchpad, results_collection
from nafill.workflows.fireworks.structure_refs import StructureStore, structures_for

log = logging.getLogger(__name__)

SETTINGS_KEY = "nafill_settings"
RESULTS_KEY = "nafill_results"


# ----------------------------------------------------------------------------- helpers
def resolve_env(value: Any, fw_spec: dict[str, Any] | None) -> Any:
    """FireWorks' env_chk: ``">>key<<"`` becomes the FireWorker's ``env[key]`` (recursively)."""
    if isinstance(value, str) and value.startswith(">>") and value.endswith("<<"):
        key = value[2:-2]
        env = (fw_spec or {}).get("_fw_env", {})
        if key not in env:
            raise NafillRunError(f"{value} is not set in this FireWorker's env (my_fworker.yaml: env: {key}: ...)")
        return env[key]
    if isinstance(value, dict):
        return {k: resolve_env(v, fw_spec) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, fw_spec) for v in value]
    return value


def backend_from_settings(settings: dict[str, Any], fw_spec: dict[str, Any] | None = None):
    """The workflow's backend, with ``>>env<<`` options resolved from the FireWorker."""
    spec = settings["backend"]
    return get_backend(spec["name"], **resolve_env(spec.get("options", {}), fw_spec))


RESULTS_DOC_EXTRA_KEYS = ("_id", "path_id", "wf_name", "updated_at")
"""Keys a results-collection document has beyond the path.json schema."""


def path_from_results_doc(doc: dict[str, Any] | None, structures: StructureStore | None = None) -> FillingPath | None:
    """The FillingPath stored in a ``nafill_paths`` document (None for no document); its
    structure references are resolved through ``structures`` (the LaunchPad's)."""
    if doc is None:
        return None
    body = {k: v for k, v in doc.items() if k not in RESULTS_DOC_EXTRA_KEYS}
    if structures is not None:
        body = structures.hydrate(body)
    return FillingPath.from_dict(body)


def load_path_doc(path_id: str, task=None) -> FillingPath | None:
    lp = current_launchpad(task)
    return path_from_results_doc(results_collection(task).find_one({"path_id": path_id}), structures_for(lp))


def save_path_doc(path_id: str, path: FillingPath, wf_name: str = "", task=None) -> None:
    """Store the path document (its structures by content address) and make it durable at once
    (a finished step is never lost)."""
    lp = current_launchpad(task)
    # the fields as they are (no deep copy): the walk copies every container and leaves references
    body = structures_for(lp).dehydrate_kept({f.name: getattr(path, f.name) for f in dataclasses.fields(path)})
    doc = {"path_id": path_id, "wf_name": wf_name, "updated_at": datetime.datetime.utcnow().isoformat(), **body}
    results_collection(task).replace_one({"path_id": path_id}, doc, upsert=True)
    checkpoint(lp)


def make_firework(task, settings: dict[str, Any], name: str, spec: dict[str, Any] | None = None) -> Firework:
    """A Firework carrying the settings and the user's spec modifications."""
    full = {SETTINGS_KEY: settings, "_add_launchpad_and_fw_id": True}  # tasks use the rocket's LaunchPad
    full.update(copy.deepcopy(settings.get("modifications") or {}))
    full.update(spec or {})
    return Firework([task], spec=full, name=name)


def plan_firework(settings: dict[str, Any], n_na: int) -> Firework:
    return make_firework(PlanStepTask(n_na=n_na), settings, f"{settings.get('name', 'fill')}: plan {n_na}")


def relax_and_select(settings: dict[str, Any], plan: StepPlan, indices: list[int], structures: StructureStore,
                     results_so_far: list[dict[str, Any]] | None = None) -> Workflow:
    """Relax Fireworks for ``plan.candidates[indices]`` (one per candidate, or batched; each batch's
    structures in one pack of ``structures``) and the select Firework after them (it receives
    ``results_so_far`` plus what the relaxations push)."""
    n_na = plan.n_na
    batch = settings.get("batch_size") or len(indices)
    name = settings.get("name", "fill")
    relax_fws = []
    for start in range(0, len(indices), batch):
        idx = indices[start:start + batch]
        refs = structures.put_pack([plan.candidates[k].structure for k in idx])
        relax_fws.append(make_firework(
            RelaxCandidatesTask(n_na=n_na, indices=idx, candidates=refs),
            settings, f"{name}: relax {n_na}.{idx[0]}-{idx[-1]}"))
    light = plan.as_dict()
    for c in light["candidates"]:
        c["structure"] = None  # the relaxed structures arrive with the results; keep the spec small
    light = structures.dehydrate_pack(light)  # the ladder's reserve
    spec = {"_allow_fizzled_parents": True}
    if results_so_far:
        spec[RESULTS_KEY] = list(results_so_far)
    round_ = len(plan.screen.get("added", [])) if plan.screen else 0
    select = make_firework(SelectStepTask(plan=light), settings,
                           f"{name}: select {n_na}" + (f" (round {round_ + 1})" if round_ else ""), spec)
    return Workflow(relax_fws + [select], {fw: [select] for fw in relax_fws})


def _injected(settings: dict[str, Any], n_na: int, indices: list[int]) -> bool:
    faults = (settings.get("fault_injection") or {}).get("fizzle_relax", [])
    return any([n_na, k] in faults or (n_na, k) in faults for k in indices)


# ----------------------------------------------------------------------------- tasks
@explicit_serialize
class StartFillTask(FiretaskBase):
    """Compute the references, create the path document, add the first plan Firework."""

    required_params = ["host", "settings"]
    optional_params = []

    def run_task(self, fw_spec):
        settings = self["settings"]
        path = load_path_doc(settings["path_id"], self)
        if path is None:
            host = atoms_from_dict(self["host"])
            path = start_path(host, backend_from_settings(settings, fw_spec), FillingPolicy.from_dict(settings["policy"]))
            save_path_doc(settings["path_id"], path, settings.get("name", ""), self)
        return FWAction(additions=[plan_firework(settings, len(path.steps) + 1)])


@explicit_serialize
class PlanStepTask(FiretaskBase):
    """Propose (and pre-screen) the candidates of step ``n_na``; add relax + select Fireworks."""

    required_params = ["n_na"]
    optional_params = []

    def run_task(self, fw_spec):
        settings = fw_spec[SETTINGS_KEY]
        n_na = int(self["n_na"])
        path = load_path_doc(settings["path_id"], self)
        if path is None:
            raise NafillRunError(f"no path document {settings['path_id']!r} in the results collection")
        if path.state.get("finished"):
            return FWAction()
        if len(path.steps) >= n_na:  # already done (a re-run after a lost launch)
            return FWAction(additions=[plan_firework(settings, len(path.steps) + 1)])
        try:
            plan = plan_step(path, backend_from_settings(settings, fw_spec))
        except PoreFullError as exc:
            finish(path, str(exc))
            save_path_doc(settings["path_id"], path, settings.get("name", ""), self)
            return FWAction(stored_data={"summary": path.summary})
        if plan.n_na != n_na:
            raise NafillRunError(f"planned step {plan.n_na}, expected {n_na}")
        # stored_data "cost": what this Firework spent, per backend (the cheap search only, on a ladder)
        return FWAction(additions=[relax_and_select(settings, plan, list(range(len(plan.candidates))),
                                                    structures_for(current_launchpad(self)))],
                        stored_data={"cost": plan.cost})


@explicit_serialize
class RelaxCandidatesTask(FiretaskBase):
    """Relax candidate structures with the workflow's backend; push the results to select."""

    required_params = ["n_na", "indices", "candidates"]
    optional_params = []

    def run_task(self, fw_spec):
        settings = fw_spec[SETTINGS_KEY]
        if _injected(settings, int(self["n_na"]), list(self["indices"])):
            raise RuntimeError(f"injected fault in relaxation of step {self['n_na']} {self['indices']}")
        policy = FillingPolicy.from_dict(settings["policy"])
        backend = backend_from_settings(settings, fw_spec)
        refs = structures_for(current_launchpad(self))
        docs = refs.hydrate(list(self["candidates"]))
        results = backend.relax_many([atoms_from_dict(s) for s in docs], policy.fmax_eV_A, policy.max_relax_steps,
                                     policy.workers, initial_hessians=[initial_hessian(s) for s in docs])
        pushed = refs.dehydrate_pack([{"index": k, "result": r.as_dict()} for k, r in zip(self["indices"], results)])
        meter = CostMeter()
        for r in results:
            meter.add(backend.name, r)
        return FWAction(mod_spec=[{"_push_all": {RESULTS_KEY: pushed}}], stored_data={"cost": meter.as_dict()})


@explicit_serialize
class SelectStepTask(FiretaskBase):
    """Keep the lowest candidates, record the step, save the path document, add the next plan."""

    required_params = ["plan"]
    optional_params = []

    def run_task(self, fw_spec):
        settings = fw_spec[SETTINGS_KEY]
        path = load_path_doc(settings["path_id"], self)
        if path is None:
            raise NafillRunError(f"no path document {settings['path_id']!r}")
        refs = structures_for(current_launchpad(self))
        if len(path.steps) < int(self["plan"]["n_na"]):  # else done already (a re-run): no structure needed
            plan = StepPlan.from_dict(refs.hydrate(self["plan"]))
            pushed = refs.hydrate(list(fw_spec.get(RESULTS_KEY, [])))
            by_index = {r["index"]: RelaxResult.from_dict(r["result"]) for r in pushed}
            backend_name = settings["backend"]["name"]
            results = [
                by_index.get(k) or RelaxResult.failed(backend_name, {}, "relaxation Firework fizzled")
                for k in range(len(plan.candidates))
            ]
            added = extend_step(path, plan, results)
            if added:  # the fidelity ladder takes one more: relax it in its own Firework, select again
                return FWAction(additions=[relax_and_select(settings, plan, added, refs, fw_spec.get(RESULTS_KEY, []))])
            try:
                complete_step(path, plan, results)
            except PoreFullError as exc:  # every candidate pushed a Na out: the fill ends here
                finish(path, str(exc))
                save_path_doc(settings["path_id"], path, settings.get("name", ""), self)
                return FWAction(stored_data={"summary": path.summary})
            except NafillRunError as exc:
                path.state["status"] = "failed"
                path.state["error"] = str(exc)
                save_path_doc(settings["path_id"], path, settings.get("name", ""), self)
                raise
            analyse_kept_step(path, backend_from_settings(settings, fw_spec))
            save_path_doc(settings["path_id"], path, settings.get("name", ""), self)
        if path.state.get("finished"):
            return FWAction(stored_data={"summary": path.summary})
        return FWAction(additions=[plan_firework(settings, len(path.steps) + 1)])
