"""Running, inspecting and exporting nafill workflows on a LaunchPad.

* :func:`run_launchpad`: launch Fireworks in this process until none is ready (rapid-fire),
  recovering runs lost to a killed runner first; the tasks make every completed step durable
  themselves (:func:`~nafill.workflows.fireworks.launchpad.checkpoint`), the store is written
  once more at the end.
* :func:`workflow_status`: workflows with their state and the number of steps done.
* :func:`fill_on_launchpad`: what ``nafill fill`` runs by default: submit (or find) one fill
  on the run folder's own store, resume it (a higher ``max_na`` extends a finished fill, fizzled
  Fireworks of a transient failure are re-run), run it here, keep the run folder up to date.
* :func:`export_run`: write a run folder (path.json, path.extxyz, profile.png) from the results
  collection.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nafill.analysis.plots import plot_path
from nafill.errors import NafillInputError, NafillRunError
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.store import PROFILE_PNG, RunStore
from nafill.workflows.engine.summary import stop_reason, summarize
from nafill.workflows.fireworks.builders import fill_key, filling_workflow
from nafill.workflows.fireworks.env import FWorker, Workflow, launch_rocket, rocket
from nafill.workflows.fireworks.launchpad import (
    RESULTS_COLLECTION,
    SPACINGS_COLLECTION,
    STORE_NAME,
    flush,
    open_launchpad,
)
from nafill.workflows.fireworks.archive import archive_finished, archived, find_archived
from nafill.workflows.fireworks.structure_refs import MongoStructures, refs_in, structures_for, sweep
from nafill.workflows.fireworks.tasks import SETTINGS_KEY, path_from_results_doc, plan_firework, save_path_doc

log = logging.getLogger(__name__)


def recover_lost_runs(lp, embedded: bool, expiration_s: int = 4 * 3600) -> list[int]:
    """Re-run Fireworks left RUNNING/RESERVED by a killed runner.

    Embedded store: the lock guarantees no other process runs anything, so every RUNNING or
    RESERVED Firework is lost and is re-run at once. Real MongoDB: FireWorks' own lost-run
    detection (no ping for ``expiration_s``) decides.
    """
    if embedded:
        lost = [d["fw_id"] for d in lp.fireworks.find({"state": {"$in": ["RUNNING", "RESERVED"]}}, {"fw_id": 1})]
        for fw_id in lost:
            lp.rerun_fw(fw_id)
        return lost
    _, lost_fw_ids, _ = lp.detect_lostruns(expiration_secs=expiration_s, rerun=True)
    return list(lost_fw_ids)


def _is_embedded(lp) -> bool:
    return bool(getattr(getattr(lp.connection, "_store", None), "_filename", None))


def run_launchpad(
    lp,
    wf_id: int | None = None,
    launch_dir: str | os.PathLike | None = None,
    max_launches: int | None = None,
    on_launch: Callable[[int], None] | None = None,
    fworker=None,
    archive: bool | None = None,
) -> int:
    """Launch ready Fireworks (of workflow ``wf_id`` if given) until none is left.

    Returns the number of Fireworks launched. Each launch runs in its own folder under
    ``launch_dir`` (default: a temporary folder, removed afterwards); folders a Firework leaves
    empty (every surrogate Firework) are removed, and no ``FW.json`` copy of the spec is written
    into them. ``fworker`` (a FireWorks ``FWorker``) supplies ``env`` entries such as
    ``vasp_cmd``. The tasks write the embedded store durably whenever a step completes; it is
    written once more at the end, so a killed runner loses at most the step in flight.

    Finished fills are compacted; on an embedded store run as a shared queue (``wf_id`` None, as
    ``nafill run`` does; ``archive`` overrides) all but the newest finished fill then move to the
    store's archive (:mod:`nafill.workflows.fireworks.archive`), so the store stays small.
    """
    rocket.ROCKET_STREAM_LOGLEVEL = "ERROR"  # the rocket's INFO lines would drown the progress bar
    for h in logging.getLogger("rocket.launcher").handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.ERROR)
    embedded = _is_embedded(lp)
    original_ping, original_json = rocket.start_ping_launch, rocket.PRINT_FW_JSON
    rocket.PRINT_FW_JSON = False  # the spec is in the database; a copy per launch folder is clutter
    if embedded:
        # no ping thread: lost runs are recovered through the store lock, and mongomock is not
        # thread-safe (the ping thread races the rocket's own writes)
        rocket.start_ping_launch = lambda launchpad, launch_id: None
    lost = recover_lost_runs(lp, embedded)
    if lost:
        log.warning("re-running %d Firework(s) lost by an earlier runner: %s", len(lost), lost)
    own_tmp = launch_dir is None
    root = Path(tempfile.mkdtemp(prefix="nafill_launch_")) if own_tmp else Path(os.path.abspath(launch_dir))
    fworker = fworker or FWorker()
    n = 0
    cwd = os.getcwd()
    nodes = None
    touched: set[int] = set()
    if wf_id is not None:
        nodes = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1})["nodes"]
    try:
        while max_launches is None or n < max_launches:
            query = {"state": "READY"}
            if wf_id is not None:
                if n:  # dynamic Fireworks join the workflow as it runs
                    nodes = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1})["nodes"]
                query["fw_id"] = {"$in": nodes}
            ready = lp.fireworks.find_one(query, {"fw_id": 1}, sort=[("fw_id", 1)])
            if ready is None:
                break
            root.mkdir(parents=True, exist_ok=True)
            d = tempfile.mkdtemp(prefix=f"launcher_{ready['fw_id']}_", dir=root)
            os.chdir(d)
            err = Path(d) / "error.log"  # a failing task's traceback: kept with its launch folder
            try:
                with open(err, "w") as err_file:
                    launch_rocket(lp, fworker, fw_id=ready["fw_id"], strm_lvl="ERROR", err_file=err_file)
            finally:
                os.chdir(cwd)
                with contextlib.suppress(OSError):
                    if err.stat().st_size == 0:
                        err.unlink()
                with contextlib.suppress(OSError):
                    os.rmdir(d)  # only when the Firework left it empty
            n += 1
            if on_launch is not None:
                on_launch(ready["fw_id"])
            touched.add(ready["fw_id"])
        dropped: set[str] = set()
        for wf in lp.workflows.find({"nodes": {"$in": sorted(touched)}, "state": "COMPLETED",
                                     "metadata.nafill_kind": "fill"}, {"nodes": 1}):
            dropped |= compact_workflow(lp, min(wf["nodes"])) or set()
        if dropped and not embedded:
            refs = structures_for(lp)
            if isinstance(refs, MongoStructures):
                refs.delete(dropped)
        if embedded and touched and (wf_id is None if archive is None else archive):
            moved = archive_finished(lp)  # a shared store keeps its newest finished fill only
            if moved:
                log.info("archived finished workflow(s) %s next to the store", moved)
    finally:
        os.chdir(cwd)
        rocket.start_ping_launch, rocket.PRINT_FW_JSON = original_ping, original_json
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                root.rmdir()
        flush(lp)
    if embedded and touched:
        sweep(lp.connection._store._filename)  # structures neither the store nor its .bak names
    return n


def compact_workflow(lp, wf_id: int) -> set[str] | None:
    """Drop the transient payloads of a COMPLETED nafill fill: the references to candidate
    structures in the relax specs, to relaxed structures pushed to the select specs (and the
    ladder's reserve in the select plans), and the launches' recorded actions (the pushed results
    and the dynamically added Fireworks, long since applied). The path (every kept structure and
    energy) stays whole in ``nafill_paths``; the Fireworks, their states and stored data stay for
    ``lpad``. A compacted workflow cannot be re-run Firework by Firework (it is finished;
    ``nafill fill --max-na`` higher extends it from its path document).

    Returns the structure packs no longer referenced (None when there was nothing to compact):
    the caller deletes them (:func:`~nafill.workflows.fireworks.structure_refs.sweep` for an
    embedded store, after the store is written; the collection for MongoDB)."""
    wf = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1, "state": 1, "metadata": 1})
    if wf is None or wf["state"] != "COMPLETED" or wf["metadata"].get("nafill_kind") != "fill":
        return None
    if wf["metadata"].get("nafill_compacted"):
        return None
    nodes = wf["nodes"]
    dropped: set[str] = set()
    for fw in lp.fireworks.find({"fw_id": {"$in": nodes}}, {"fw_id": 1, "spec": 1}):
        spec = fw["spec"]
        changed = False
        if spec.get("nafill_results"):
            dropped |= refs_in(spec["nafill_results"])
            spec["nafill_results"] = []
            changed = True
        for t in spec.get("_tasks", []):
            if t.get("candidates"):
                dropped |= refs_in(t["candidates"])
                t["candidates"] = []
                changed = True
            if isinstance(t.get("plan"), dict) and t["plan"].get("reserve"):
                dropped |= refs_in(t["plan"]["reserve"])
                t["plan"]["reserve"] = []
                changed = True
        if changed:
            spec["nafill_compacted"] = True
            lp.fireworks.update_one({"fw_id": fw["fw_id"]}, {"$set": {"spec": spec}})
    for launch in lp.launches.find({"fw_id": {"$in": nodes}}, {"launch_id": 1, "action": 1}):
        action = launch.get("action") or {}
        if action.get("mod_spec") or action.get("additions"):  # applied long ago; the Fireworks remain
            dropped |= refs_in(action.get("mod_spec") or [])
            lp.launches.update_one({"launch_id": launch["launch_id"]},
                                   {"$set": {"action.mod_spec": [], "action.additions": [],
                                             "action.nafill_compacted": True}})
    lp.workflows.update_one({"nodes": int(wf_id)}, {"$set": {"metadata.nafill_compacted": True}})
    return {k for k in dropped if k.startswith("p/")}


def find_workflow(lp, key: str) -> dict | None:
    """The newest workflow whose metadata carries ``nafill_key == key`` (live, else archived)."""
    docs = list(lp.workflows.find({"metadata.nafill_key": key}).sort("created_on", -1).limit(1))
    if docs:
        return docs[0]
    old = [wf for wf, _ in archived(lp) if wf.get("metadata", {}).get("nafill_key") == key]
    return max(old, key=lambda wf: min(wf["nodes"])) if old else None


def workflow_doc(lp, wf_id: int) -> dict | None:
    """The workflow document holding Firework ``wf_id``: live, else archived (None if neither)."""
    wf = lp.workflows.find_one({"nodes": int(wf_id)})
    if wf is None:
        found = find_archived(lp, wf_id)
        wf = found[0] if found else None
    return wf


def path_id_of(lp, wf_id: int) -> str:
    wf = workflow_doc(lp, wf_id)
    if wf is None:
        raise NafillInputError(f"WF_ID = {wf_id} is not a workflow on this LaunchPad")
    pid = wf.get("metadata", {}).get("nafill_path_id")
    if not pid:
        raise NafillInputError(f"WF_ID = {wf_id} is not a nafill filling workflow")
    return pid


def path_document(lp, wf_id: int) -> FillingPath | None:
    """Workflow ``wf_id``'s path, its structures resolved (None before the fill has started); an
    archived workflow's comes from its archive file."""
    doc = lp.db[RESULTS_COLLECTION].find_one({"path_id": path_id_of(lp, wf_id)})
    if doc is None and lp.workflows.find_one({"nodes": int(wf_id)}, {"_id": 1}) is None:
        found = find_archived(lp, wf_id)
        doc = found[1] if found else None
    return path_from_results_doc(doc, structures_for(lp))


def _fill_row(wf: dict[str, Any], doc: dict[str, Any] | None) -> dict[str, Any]:
    steps = (doc or {}).get("steps", [])
    return {
        "wf_id": min(wf["nodes"]),
        "name": wf["name"],
        "state": wf["state"],
        "steps_done": len(steps),
        "max_na": ((doc or {}).get("policy") or {}).get("max_na"),
        "last_H_eV": steps[-1]["formation_enthalpy_eV"] if steps else None,
        "error": ((doc or {}).get("state") or {}).get("error"),
    }


def workflow_status(lp) -> list[dict[str, Any]]:
    """One row per nafill workflow (archived ones included): id, name, state, steps done, last H,
    error if any."""
    rows = []
    coll = lp.db[RESULTS_COLLECTION]
    for wf in lp.workflows.find({"metadata.nafill_kind": {"$exists": True}}).sort("created_on", 1):
        if wf["metadata"].get("nafill_kind") == "spacing":
            done = list(lp.db[SPACINGS_COLLECTION].find({"study": wf["metadata"]["nafill_study"]}))
            rows.append({"wf_id": min(wf["nodes"]), "name": wf["name"], "state": wf["state"],
                         "steps_done": len(done), "max_na": len(wf["nodes"]), "last_H_eV": None,
                         "error": None, "spacings_nm": {d["layers"]: d["spacing_nm"] for d in done}})
            continue
        pid = wf["metadata"].get("nafill_path_id")
        doc = coll.find_one({"path_id": pid}, {"steps.formation_enthalpy_eV": 1, "state.error": 1,
                                               "state.finished": 1, "policy.max_na": 1}) if pid else None
        rows.append(_fill_row(wf, doc))
    rows += [_fill_row(wf, doc) for wf, doc in archived(lp)]
    return sorted(rows, key=lambda r: r["wf_id"])


def export_run(lp, wf_id: int, out_dir) -> Path:
    """Write path.json, path.extxyz and profile.png for workflow ``wf_id`` into ``out_dir``."""
    path = path_document(lp, wf_id)
    if path is None:
        raise NafillInputError(f"workflow {wf_id} has no path document yet (has it started?)")
    store = RunStore(out_dir)
    store.save(path)
    if path.steps:
        plot_path(path, Path(out_dir) / PROFILE_PNG)
    return Path(out_dir)


def _settings_of(lp, wf_id: int) -> dict[str, Any]:
    fw = lp.fireworks.find_one({"fw_id": int(wf_id)}, {"spec": 1})
    return copy.deepcopy(fw["spec"][SETTINGS_KEY])


def _rerun_fizzled(lp, wf_id: int) -> list[int]:
    """Re-run the FIZZLED Fireworks that stopped the workflow (a transient failure: disk full, a
    killed worker); a fizzled relaxation already recorded as a failed candidate is left alone."""
    wf = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1, "links": 1})
    states = {d["fw_id"]: d["state"] for d in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}},
                                                                   {"fw_id": 1, "state": 1})}
    links = {int(k): v for k, v in wf["links"].items()}
    todo = [i for i, st in sorted(states.items()) if st == "FIZZLED"
            and not any(states.get(c) in ("COMPLETED", "RUNNING", "RESERVED") for c in links.get(i, []))]
    for fw_id in todo:
        if lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1})["state"] == "FIZZLED":
            lp.rerun_fw(fw_id)
    return todo


def resume_workflow(lp, wf_id: int, policy: FillingPolicy) -> FillingPath | None:
    """Bring workflow ``wf_id`` in line with this command's settings before running it.

    * fields that do not change the path so far (``max_na``, the stop rule, ``workers``) come
      from ``policy``; a ``max_na`` below the steps already done keeps the steps (and the old
      ``max_na``): nothing is ever truncated;
    * a finished fill whose new ``max_na`` asks for more gets its next plan Firework;
    * FIZZLED Fireworks that stopped the fill are re-run (the error is cleared first).
    """
    path = path_document(lp, wf_id)
    wf = lp.workflows.find_one({"nodes": int(wf_id)})
    if path is not None:
        n = len(path.steps)
        old_max = path.policy.get("max_na")
        for k in FillingPolicy.NON_PHYSICAL:
            path.policy[k] = getattr(policy, k)
        if policy.max_na is not None and n > policy.max_na:
            path.policy["max_na"] = old_max if old_max is not None and old_max >= n else n
        was_finished = bool(path.state.get("finished"))
        pore_full = was_finished and not str(path.state.get("stop_reason") or "").startswith(("reached max_na", "H stayed"))
        if not pore_full:
            reason = stop_reason(path)
            path.state["finished"] = reason is not None
            path.state["stop_reason"] = reason
        fizzled = wf["state"] == "FIZZLED" or lp.fireworks.find_one(
            {"fw_id": {"$in": wf["nodes"]}, "state": "FIZZLED"}, {"fw_id": 1}) is not None
        if fizzled:
            path.state.pop("error", None)
            if path.state.get("status") == "failed":
                path.state.pop("status")
        path.summary = summarize(path)
        save_path_doc(_settings_of(lp, wf_id)["path_id"], path, wf["name"])
        if fizzled:
            rerun = _rerun_fizzled(lp, wf_id)
            if rerun:
                log.warning("re-running fizzled Firework(s) %s of workflow %s", rerun, wf_id)
        busy = lp.fireworks.find_one({"fw_id": {"$in": wf["nodes"]},
                                      "state": {"$in": ["READY", "WAITING", "RUNNING", "RESERVED"]}}, {"fw_id": 1})
        if was_finished and not path.state.get("finished") and busy is None:
            settings = _settings_of(lp, wf_id)
            settings["policy"] = {**settings["policy"], **{k: path.policy[k] for k in FillingPolicy.NON_PHYSICAL}}
            leaves = [i for i in wf["nodes"] if not wf["links"].get(str(i))]
            lp.append_wf(Workflow([plan_firework(settings, n + 1)]), [max(leaves)], pull_spec_mods=False)
            log.info("extending workflow %s from %d to %s Na", wf_id, n, path.policy["max_na"])
    elif wf["state"] == "FIZZLED":
        _rerun_fizzled(lp, wf_id)
    return path


def fill_on_launchpad(host, calculator, calc_options, policy, out_dir: Path, overwrite: bool,
                        launchpad_file, on_step, existing: FillingPath | None = None) -> FillingPath:
    """Submit (or find again) this fill on the LaunchPad, run it here, export the run folder.

    Embedded LaunchPad: the store of the run folder (``out_dir/launchpad_store.json``).
    ``existing`` is the run already in ``out_dir`` (e.g. from ``--engine local`` or an older
    store): a new workflow starts from its steps. ``on_step(n_na, H_eV, V_V)`` is called whenever
    a step completes (``nafill fill``'s progress).
    """
    key = fill_key(host, {"name": calculator, "options": calc_options}, policy, tag=str(out_dir.resolve()))
    with open_launchpad(launchpad_file, store=out_dir / STORE_NAME) as lp:
        wf_doc = find_workflow(lp, key)
        if wf_doc is not None and not overwrite and existing is not None:
            stored = path_document(lp, min(wf_doc["nodes"]))
            if stored is None or len(stored.steps) < len(existing.steps):  # the folder went further
                overwrite = True                                            # (e.g. --engine local)
        if wf_doc is not None and overwrite:
            lp.delete_wf(min(wf_doc["nodes"]), delete_launch_dirs=False)
            wf_doc = None
        if wf_doc is None:
            wf = filling_workflow(host, calculator, calc_options, policy, key=key)
            if existing is not None and existing.steps:
                save_path_doc(wf.metadata["nafill_path_id"], existing, wf.name)
            wf_id = min(lp.add_wf(wf).values())
            flush(lp)
        else:
            wf_id = min(wf_doc["nodes"])
            log.info("resuming workflow %s (%s)", wf_id, wf_doc["state"])
            resume_workflow(lp, wf_id, policy)
        store = RunStore(out_dir)
        last = {"n": -1}
        paths = lp.db[RESULTS_COLLECTION]
        pid = path_id_of(lp, wf_id)

        def on_launch(_fw_id: int) -> None:
            doc = paths.find_one({"path_id": pid}, {"steps.n_na": 1})  # cheap: has a step been added?
            if doc is None or len(doc.get("steps", [])) == last["n"]:
                return
            path = path_document(lp, wf_id)
            if path is not None and len(path.steps) != last["n"]:
                last["n"] = len(path.steps)
                store.save(path)
                if path.steps:
                    s = path.steps[-1]
                    on_step(s["n_na"], s["formation_enthalpy_eV"], s["step_voltage_V"])

        on_launch(0)
        # launch folders (e.g. VASP run folders) are kept with the run; empty ones are removed
        run_launchpad(lp, wf_id, launch_dir=out_dir / "launches", on_launch=on_launch)
        path = path_document(lp, wf_id)
        state = lp.workflows.find_one({"nodes": wf_id})["state"]
        if path is None or not path.state.get("finished"):
            error = (path.state.get("error") if path else None) or f"workflow {wf_id} is {state}"
            if path is not None:
                store.save(path)
            raise NafillRunError(f"the fill did not finish: {error}; run the same command again to retry "
                                 "the failed step")
        store.save(path)
        return path
