"""Structures passed by reference: the LaunchPad holds no atoms, the files hold exactly what the
store names, and what comes back is bit for bit what went in."""

from __future__ import annotations

import json
import math

import bson.json_util
import mongomock
import pytest

from nafill.errors import NafillRunError
from nafill.io import atoms_to_dict
from nafill.structures.pores import cavity
from nafill.structures.sites import add_guest
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.fireworks.builders import filling_workflow
from nafill.workflows.fireworks.launchpad import open_launchpad
from nafill.workflows.fireworks.runner import export_run, path_document, run_launchpad
from nafill.workflows.fireworks.store_file import dumps_store
from nafill.workflows.fireworks.structure_refs import (
    REF_KEY,
    FileStructures,
    MongoStructures,
    is_structure,
    refs_in,
    structures_dir,
    sweep,
    sync_pending,
)


def _structures(n=3):
    host = cavity(1.05)
    centre = host.positions.mean(axis=0)
    return [atoms_to_dict(add_guest(host, centre + [0.1 * k + 1e-13, 0, 0])) for k in range(n)]


def _has_atoms(obj) -> bool:
    if is_structure(obj):
        return True
    if isinstance(obj, dict):
        return any(_has_atoms(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_atoms(v) for v in obj)
    return False


@pytest.mark.parametrize("kind", ["files", "mongo"])
def test_round_trip_is_exact_and_kept_structures_are_stored_once(kind, tmp_path):
    refs = FileStructures(tmp_path / "s.structures") if kind == "files" else MongoStructures(
        mongomock.MongoClient().db)
    s = _structures()
    doc = {"steps": [{"structure": s[0], "e": 1.0}, {"structure": s[1]}], "beam": [{"structure": s[1]}],
           "other": [1, 2.5, None, "x"]}
    light = refs.dehydrate_kept(doc)
    assert not _has_atoms(light) and len(refs_in(light)) == 2  # s[1] twice, stored once
    back = refs.hydrate(light)
    assert json.dumps(back, sort_keys=True) == json.dumps(doc, sort_keys=True)  # every float bit
    back["steps"][0]["structure"]["positions"][0][0] = math.pi  # copies: the cache stays intact
    assert refs.hydrate(light)["steps"][0]["structure"] == s[0]
    packed = refs.dehydrate_pack([{"index": k, "result": {"structure": x}} for k, x in enumerate(s)])
    assert len(refs_in(packed)) == 1 and [r["result"]["structure"] for r in refs.hydrate(packed)] == s
    assert refs.hydrate({"inline": s[2]}) == {"inline": s[2]}  # documents from before the move load as they are
    if kind == "files":
        sync_pending()
        assert len(list((tmp_path / "s.structures").iterdir())) == 3  # 2 kept + 1 pack
        fresh = FileStructures(tmp_path / "s.structures")  # another process reads the same
        assert fresh.hydrate(light) == doc


def test_missing_structure_is_named(tmp_path):
    refs = FileStructures(tmp_path / "x.structures")
    with pytest.raises(NafillRunError, match="missing from the structures folder"):
        refs.get({REF_KEY: "p/" + "0" * 32 + "#0"})


def test_store_text_is_what_bson_writes():
    data = {"fireworks": {"fireworks": {"name": "fireworks", "documents": [
        [bson.ObjectId(), {"spec": {"x": [1.25, 2, None, True]}, "created_on": bson.json_util.datetime.datetime(
            2024, 6, 15, 12, 0, 0, 123000)}]]}}}
    assert dumps_store(data) == bson.json_util.dumps(data)
    data["fireworks"]["fireworks"]["documents"][0][1]["spec"]["nan"] = float("nan")
    assert dumps_store(data) == bson.json_util.dumps(data)  # NaN: bson's own spelling


def test_fill_keeps_structures_out_of_the_store(tmp_path, monkeypatch):
    store = tmp_path / "store.json"
    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(store))
    monkeypatch.delenv("NAFILL_LAUNCHPAD", raising=False)
    with open_launchpad() as lp:
        wf_id = min(lp.add_wf(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=3))).values())
        run_launchpad(lp)
        path = path_document(lp, wf_id)
        export_run(lp, wf_id, tmp_path / "exp")
    data = bson.json_util.loads(store.read_text())
    assert not _has_atoms(data["fireworks"]["nafill_paths"]["documents"])
    assert not _has_atoms(data["fireworks"]["fireworks"]["documents"][1:])  # the start Firework holds the host
    assert not _has_atoms(data["fireworks"]["launches"]["documents"])
    # after the fill: only the path's kept structures (host + one per step, the beam is the last step)
    names = sorted(f.name for f in structures_dir(store).iterdir())
    assert len(names) == 1 + 3 and all(n.startswith("s-") for n in names)
    assert len(path.steps) == 3 and path.steps[-1]["structure"]["numbers"].count(11) == 3
    assert json.loads((tmp_path / "exp" / "path.json").read_text())["steps"] == path.steps


def test_sweep_keeps_what_the_store_or_its_backup_names(tmp_path):
    store = tmp_path / "st.json"
    refs = FileStructures(structures_dir(store))
    s = _structures(3)
    kept_old = refs.put_kept(s[0])
    kept_now = refs.put_kept(s[1])
    pack_old = refs.put_pack([s[2]])
    pack_now = refs.put_pack([s[2]])
    sync_pending()
    store.write_text(json.dumps({"a": [kept_now, pack_now[0]]}))
    (tmp_path / "st.json.bak").write_text(json.dumps({"a": [kept_old, pack_old[0]]}))
    (structures_dir(store) / ".p-dead.json.1.tmp").write_text("{")
    assert sweep(store) == 2  # the backup's pack and the stale temporary file
    left = {f.name for f in structures_dir(store).iterdir()}
    assert left == {f"{r[REF_KEY].split('#')[0].replace('/', '-')}.json" for r in (kept_old, kept_now, pack_now[0])}


def test_shared_store_archives_finished_fills_and_still_lists_and_exports_them(tmp_path, monkeypatch, capsys):
    from nafill.cli import main
    from nafill.workflows.fireworks.archive import archive_dir
    from nafill.workflows.fireworks.runner import workflow_status

    store = tmp_path / "home" / "launchpad_store.json"
    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(store))
    monkeypatch.delenv("NAFILL_LAUNCHPAD", raising=False)
    ids = []
    for _ in range(3):  # one store, three identical fills, each run to the end
        with open_launchpad() as lp:
            ids.append(min(lp.add_wf(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=2))).values()))
            run_launchpad(lp)
    with open_launchpad() as lp:
        assert [min(w["nodes"]) for w in lp.workflows.find({})] == ids[2:]  # only the newest stays live
        rows = workflow_status(lp)
        paths = [path_document(lp, i) for i in ids]
    assert [(r["wf_id"], r["state"], r["steps_done"]) for r in rows] == [(i, "COMPLETED", 2) for i in ids]
    def same(a, b):  # every number and structure but the clocks
        return [(s["energy_eV"], s["structure"]) for s in a] == [(s["energy_eV"], s["structure"]) for s in b]

    assert same(paths[0].steps, paths[2].steps)  # the archived path, structures inline, is whole
    assert sorted(f.name for f in archive_dir(store).glob("*.json")) == [f"wf-{i}.json" for i in ids[:2]]
    assert main(["export", str(ids[0]), "--out", str(tmp_path / "exp")]) == 0
    assert json.loads((tmp_path / "exp" / "path.json").read_text())["steps"] == paths[0].steps
    capsys.readouterr()
    assert main(["lpad", "--store", str(archive_dir(store) / f"wf-{ids[0]}.json"), "get_wflows", "-d", "ids"]) == 0
    assert str(ids[0]) in capsys.readouterr().out
