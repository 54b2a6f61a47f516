"""Running, inspecting and exporting nafill workflows on a LaunchPad.

* :func:`run_launchpad`: launch Fireworks in this process until none is ready (rapid-fire),
  recovering runs lost to a killed runner first; the embedded store is flushed after every
  Firework.
* :func:`workflow_status`: workflows with their state and the number of steps done.
* :func:`fill_on_launchpad`: what ``nafill fill`` runs by default: submit (or find) one fill,
  run it here, keep its run folder up to date.
* :func:`export_run`: write a run folder (path.json, path.extxyz, profile.png) from the results
  collection.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nafill.analysis.plots import plot_path
from nafill.errors import NafillInputError, NafillRunError
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.engine.store import PROFILE_PNG, RunStore
from nafill.workflows.fireworks.builders import fill_key, filling_workflow
from nafill.workflows.fireworks.env import FWorker, launch_rocket, rocket
from nafill.workflows.fireworks.launchpad import RESULTS_COLLECTION, SPACINGS_COLLECTION, flush, open_launchpad
from nafill.workflows.fireworks.tasks import path_from_results_doc

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
    flush_interval_s: float | None = None,
) -> int:
    """Launch ready Fireworks (of workflow ``wf_id`` if given) until none is left.

    Returns the number of Fireworks launched. Each launch runs in its own folder under
    ``launch_dir`` (default: a temporary folder, removed afterwards unless given). ``fworker``
    (a FireWorks ``FWorker``) supplies ``env`` entries such as ``vasp_cmd``. The embedded store
    is written back at most every ``flush_interval_s`` seconds (default ``$NAFILL_FLUSH_INTERVAL_S``
    or 3 s; 0 = after every Firework) and at the end: a killed runner loses at most that much work,
    which the next run redoes (every step is deterministic).
    """
    if flush_interval_s is None:
        flush_interval_s = float(os.environ.get("NAFILL_FLUSH_INTERVAL_S", "3"))
    rocket.ROCKET_STREAM_LOGLEVEL = "ERROR"  # the rocket's INFO lines would drown the progress bar
    for h in logging.getLogger("rocket.launcher").handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.ERROR)
    embedded = _is_embedded(lp)
    original_ping = rocket.start_ping_launch
    if embedded:
        # no ping thread: lost runs are recovered through the store lock, and mongomock is not
        # thread-safe (the ping thread races the rocket's own writes)
        rocket.start_ping_launch = lambda launchpad, launch_id: None
    lost = recover_lost_runs(lp, embedded)
    if lost:
        log.warning("re-running %d Firework(s) lost by an earlier runner: %s", len(lost), lost)
        flush(lp)
    own_tmp = launch_dir is None
    root = Path(tempfile.mkdtemp(prefix="nafill_launch_")) if own_tmp else Path(launch_dir)
    root.mkdir(parents=True, exist_ok=True)
    fworker = fworker or FWorker()
    n = 0
    last_flush = time.monotonic()
    cwd = os.getcwd()
    try:
        while max_launches is None or n < max_launches:
            query = {"state": "READY"}
            if wf_id is not None:
                nodes = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1})["nodes"]
                query["fw_id"] = {"$in": nodes}
            ready = lp.fireworks.find_one(query, {"fw_id": 1}, sort=[("fw_id", 1)])
            if ready is None:
                break
            d = tempfile.mkdtemp(prefix=f"launcher_{ready['fw_id']}_", dir=root)
            os.chdir(d)
            try:
                launch_rocket(lp, fworker, fw_id=ready["fw_id"], strm_lvl="ERROR")
            finally:
                os.chdir(cwd)
            n += 1
            if time.monotonic() - last_flush >= flush_interval_s:
                flush(lp)
                last_flush = time.monotonic()
            if on_launch is not None:
                on_launch(ready["fw_id"])
    finally:
        os.chdir(cwd)
        flush(lp)
        rocket.start_ping_launch = original_ping
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)
    return n


def find_workflow(lp, key: str) -> dict | None:
    """The newest workflow whose metadata carries ``nafill_key == key``."""
    docs = list(lp.workflows.find({"metadata.nafill_key": key}).sort("created_on", -1).limit(1))
    return docs[0] if docs else None


def path_id_of(lp, wf_id: int) -> str:
    wf = lp.workflows.find_one({"nodes": int(wf_id)})
    if wf is None:
        raise NafillInputError(f"WF_ID = {wf_id} is not a workflow on this LaunchPad")
    pid = wf.get("metadata", {}).get("nafill_path_id")
    if not pid:
        raise NafillInputError(f"WF_ID = {wf_id} is not a nafill filling workflow")
    return pid


def path_document(lp, wf_id: int) -> FillingPath | None:
    return path_from_results_doc(lp.db[RESULTS_COLLECTION].find_one({"path_id": path_id_of(lp, wf_id)}))


def workflow_status(lp) -> list[dict[str, Any]]:
    """One row per nafill workflow: id, name, state, steps done, last H, error if any."""
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
        steps = (doc or {}).get("steps", [])
        rows.append({
            "wf_id": min(wf["nodes"]),
            "name": wf["name"],
            "state": wf["state"],
            "steps_done": len(steps),
            "max_na": ((doc or {}).get("policy") or {}).get("max_na"),
            "last_H_eV": steps[-1]["formation_enthalpy_eV"] if steps else None,
            "error": ((doc or {}).get("state") or {}).get("error"),
        })
    return rows


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


def fill_on_launchpad(host, calculator, calc_options, policy, out_dir: Path, overwrite: bool,
                        launchpad_file, on_step) -> FillingPath:
    """Submit (or find again) this fill on the LaunchPad, run it here, export the run folder.

    ``on_step(n_na, H_eV, V_V)`` is called whenever a step completes (``nafill fill``'s progress).
    """
    key = fill_key(host, {"name": calculator, "options": calc_options}, policy, tag=str(out_dir.resolve()))
    with open_launchpad(launchpad_file) as lp:
        wf_doc = find_workflow(lp, key)
        if wf_doc is not None and overwrite:
            lp.delete_wf(min(wf_doc["nodes"]), delete_launch_dirs=False)
            wf_doc = None
        if wf_doc is None:
            wf = filling_workflow(host, calculator, calc_options, policy, key=key)
            wf_id = min(lp.add_wf(wf).values())
        else:
            wf_id = min(wf_doc["nodes"])
            log.info("resuming workflow %s (%s)", wf_id, wf_doc["state"])
        store = RunStore(out_dir)
        last = {"n": -1}

        def on_launch(_fw_id: int) -> None:
            path = path_document(lp, wf_id)
            if path is not None and len(path.steps) != last["n"]:
                last["n"] = len(path.steps)
                store.save(path)
                if path.steps:
                    s = path.steps[-1]
                    on_step(s["n_na"], s["formation_enthalpy_eV"], s["step_voltage_V"])

        on_launch(0)
        # launch folders (and e.g. VASP run folders inside them) are kept with the run
        run_launchpad(lp, wf_id, launch_dir=out_dir / "launches", on_launch=on_launch)
        path = path_document(lp, wf_id)
        state = lp.workflows.find_one({"nodes": wf_id})["state"]
        if path is None or not path.state.get("finished"):
            error = (path.state.get("error") if path else None) or f"workflow {wf_id} is {state}"
            if path is not None:
                store.save(path)
            raise NafillRunError(f"the fill did not finish: {error}")
        store.save(path)
        return path
