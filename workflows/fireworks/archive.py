"""Finished fills leave a shared embedded store: its cost follows the work, not the history.

An embedded store is one JSON file that every checkpoint rewrites and every query scans, so a
store holding every fill ever run from ``$NAFILL_HOME`` makes each new fill slower than the last.
After a run, :func:`archive_finished` moves the finished (COMPLETED, compacted) fill workflows
beyond the :data:`KEEP_FINISHED` most recent out of the store, one file per workflow:

    <dir>/<name>.archive/wf-<root fw_id>.json

Each file is itself a complete embedded store (the same layout: its workflow, Fireworks,
launches and path document, the path's structures written inline), so it is a self-contained
record: ``nafill lpad --store <file> get_wflows`` shows it, ``nafill status`` lists it, ``nafill
export`` writes its run folder. The file is written atomically and durably before the store that
no longer holds the workflow is, so a kill in between leaves the workflow in both (archived again,
identically, by the next run), never in neither. fw_ids are never reused (the store's counters
go on). A run folder's own store (``nafill fill``) holds one fill and is never archived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nafill.workflows.fireworks.store_file import read_store, write_store
from nafill.workflows.fireworks.structure_refs import structures_for

KEEP_FINISHED = 1
"""Finished fills a shared store keeps live (the most recently updated)."""

RESULTS_COLLECTION = "nafill_paths"


def archive_dir(store_file) -> Path:
    p = Path(store_file)
    return p.parent / f"{p.stem}.archive"


def _store_file(lp) -> str | None:
    return getattr(getattr(getattr(lp, "connection", None), "_store", None), "_filename", None)


def archive_finished(lp, keep: int = KEEP_FINISHED) -> list[int]:
    """Move finished fills beyond the ``keep`` most recent into the archive (embedded stores only).

    Returns the root fw_ids archived. The caller writes the store afterwards.
    """
    store_file = _store_file(lp)
    if not store_file:
        return []
    done = list(lp.workflows.find({"state": "COMPLETED", "metadata.nafill_kind": "fill",
                                   "metadata.nafill_compacted": True}, {"nodes": 1, "updated_on": 1}))
    done.sort(key=lambda w: (str(w.get("updated_on") or ""), min(w["nodes"])), reverse=True)
    out = []
    folder = archive_dir(store_file)
    structures = structures_for(lp)
    for wf in done[keep:]:
        nodes = sorted(wf["nodes"])
        root = nodes[0]
        wf_doc = lp.workflows.find_one({"_id": wf["_id"]})
        fws = list(lp.fireworks.find({"fw_id": {"$in": nodes}}))
        launch_ids = sorted({i for fw in fws for i in fw.get("launches", []) + fw.get("archived_launches", [])})
        launches = list(lp.launches.find({"launch_id": {"$in": launch_ids}}))
        pid = wf_doc["metadata"].get("nafill_path_id")
        path_doc = lp.db[RESULTS_COLLECTION].find_one({"path_id": pid}) if pid else None
        if path_doc is not None:
            path_doc = structures.hydrate(path_doc)  # self-contained: no reference into the live store's files
        db = {
            "workflows": _coll("workflows", [wf_doc]),
            "fireworks": _coll("fireworks", fws),
            "launches": _coll("launches", launches),
            RESULTS_COLLECTION: _coll(RESULTS_COLLECTION, [path_doc] if path_doc else []),
            "fw_id_assigner": _coll("fw_id_assigner", [{"_id": wf_doc["_id"], "next_fw_id": nodes[-1] + 1,
                                                       "next_launch_id": (launch_ids[-1] + 1) if launch_ids else 1}]),
        }
        write_store(folder / f"wf-{root}.json", {lp.db.name: db})
        lp.workflows.delete_one({"_id": wf["_id"]})
        lp.fireworks.delete_many({"fw_id": {"$in": nodes}})
        lp.launches.delete_many({"launch_id": {"$in": launch_ids}})
        if pid:
            lp.db[RESULTS_COLLECTION].delete_one({"path_id": pid})
        out.append(root)
    return out


def _coll(name: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "documents": [[d["_id"], d] for d in docs]}


def _archived_db(file: Path) -> dict[str, Any] | None:
    try:
        data = read_store(file)
    except Exception:  # noqa: BLE001 - a damaged archive file is skipped here; lpad --store names it
        return None
    return next(iter(data.values()), None) if data else None


def _docs(db: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [d for _, d in (db.get(name) or {}).get("documents", [])]


def archived(lp) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(workflow document, path document) of every archived workflow of ``lp``'s embedded store."""
    store_file = _store_file(lp)
    folder = archive_dir(store_file) if store_file else None
    if folder is None or not folder.is_dir():
        return
    files = sorted(folder.glob("wf-*.json"), key=lambda f: int(f.stem[3:]) if f.stem[3:].isdigit() else 0)
    for f in files:
        db = _archived_db(f)
        if db is None:
            continue
        wfs, paths = _docs(db, "workflows"), _docs(db, RESULTS_COLLECTION)
        if wfs:
            yield wfs[0], (paths[0] if paths else None)


def find_archived(lp, wf_id: int) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The archived workflow holding Firework ``wf_id`` (its root id names the file), or None."""
    store_file = _store_file(lp)
    if not store_file:
        return None
    folder = archive_dir(store_file)
    f = folder / f"wf-{int(wf_id)}.json"
    candidates = [f] if f.is_file() else []
    if not candidates and folder.is_dir():  # a Firework id other than the root: look through them all
        candidates = sorted(folder.glob("wf-*.json"))
    for c in candidates:
        db = _archived_db(c)
        if db is None:
            continue
        for wf in _docs(db, "workflows"):
            if int(wf_id) in wf.get("nodes", []):
                paths = _docs(db, RESULTS_COLLECTION)
                return wf, (paths[0] if paths else None)
    return None
