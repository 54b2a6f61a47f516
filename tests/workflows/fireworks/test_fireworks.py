"""FireWorks workflows on the embedded LaunchPad: equivalence, resume after kill, failures, lock."""

import json
import os
import subprocess
import sys

from nafill.structures.pores import cavity
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.store import load_path
from nafill.workflows.fireworks.builders import connected_study_workflows, filling_workflow, orifice_scan_workflows
from nafill.workflows.fireworks.launchpad import open_launchpad
from nafill.workflows.fireworks.runner import export_run, path_document, run_launchpad, workflow_status


def _submit(wf):
    with open_launchpad() as lp:
        return min(lp.add_wf(wf).values())


def test_fireworks_path_equals_in_process(store):
    policy = dict(max_na=6)
    wf_id = _submit(filling_workflow(cavity(1.19), "emt", policy=FillingPolicy(**policy)))
    with open_launchpad() as lp:
        n = run_launchpad(lp)
        fw_path = path_document(lp, wf_id)
        rows = workflow_status(lp)
    ref = fill(cavity(1.19), get_backend("emt"), FillingPolicy(**policy))
    assert n == 1 + 6 * 3  # start, then (plan, one relax batch, select) for each Na
    assert [s["energy_eV"] for s in fw_path.steps] == [s["energy_eV"] for s in ref.steps]
    assert [s["n_candidates"] for s in fw_path.steps] == [s["n_candidates"] for s in ref.steps]
    assert rows[0]["state"] == "COMPLETED" and rows[0]["steps_done"] == 6


def test_settings_and_modifications_reach_dynamic_fireworks(store):
    mods = {"_category": "", "_priority": 7, "nafill_test_marker": "carried"}
    custodian = {"handlers": ["VaspErrorHandler"], "max_errors": 3}
    wf_id = _submit(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=2), batch_size=1,
                                     modifications=mods, custodian=custodian))
    with open_launchpad() as lp:
        run_launchpad(lp)
        nodes = lp.workflows.find_one({"nodes": wf_id})["nodes"]
        specs = [lp.get_fw_by_id(i).spec for i in nodes]
        names = [lp.get_fw_by_id(i).name for i in nodes]
    assert len(specs) > 5  # the start Firework plus everything added dynamically
    assert any("relax 2" in n for n in names) and any("select 2" in n for n in names)
    settings = specs[0]["nafill_settings"]
    for spec in specs:
        assert spec["nafill_test_marker"] == "carried"
        assert spec["_priority"] == 7
        assert spec["nafill_settings"]["custodian"] == custodian
        assert spec["nafill_settings"]["backend"] == settings["backend"]
        assert spec["nafill_settings"]["policy"] == settings["policy"]
        assert spec["nafill_settings"]["batch_size"] == 1


def test_fizzled_candidate_recorded_and_all_fizzled_stops(store):
    # step 2 has 6 relaxations (one Firework each: 4 pre-screened, 2 perturbed); the first fizzles
    wf_id = _submit(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=3), batch_size=1,
                                     fault_injection={"fizzle_relax": [[2, 0]]}))
    with open_launchpad() as lp:
        run_launchpad(lp)
        path = path_document(lp, wf_id)
        state = lp.workflows.find_one({"nodes": wf_id})["state"]
    assert len(path.steps) == 3 and path.state["finished"]
    s2 = path.steps[1]
    assert s2["n_failed"] == 1 and "fizzled" in s2["failures"][0]
    assert state in ("COMPLETED", "FIZZLED")  # a fizzled leaf may mark the workflow, the path is complete
    # every relaxation of step 2 fizzles: the workflow stops with a clear state
    wf2 = _submit(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=3), batch_size=1,
                                   fault_injection={"fizzle_relax": [[2, k] for k in range(10)]}))
    with open_launchpad() as lp:
        run_launchpad(lp)
        path = path_document(lp, wf2)
        rows = {r["wf_id"]: r for r in workflow_status(lp)}
    assert len(path.steps) == 1 and not path.state["finished"]
    assert path.state["status"] == "failed"
    assert rows[wf2]["state"] == "FIZZLED"
    assert "all 6 candidates of step 2 failed" in rows[wf2]["error"]  # 4 pre-screened + 2 perturbed


def _nafill(*args, env=None):
    return [sys.executable, "-m", "nafill.cli", *args]


def _steps_in_store(store):
    """Steps recorded in the results collection of a flushed store file (0 if unreadable)."""
    try:
        doc = json.loads(store.read_text())
    except (OSError, ValueError):
        return 0
    found = []

    def walk(x):
        if isinstance(x, dict):
            if "path_id" in x and "steps" in x:
                found.append(len(x["steps"]))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return max(found, default=0)


def test_kill_runner_and_resume(store, tmp_path, kill_when):
    env = dict(os.environ)  # every completed step is written durably
    subprocess.run(_nafill("submit", "fill", "--spacing-nm", "1.19", "--max-na", "8"), check=True,
                   capture_output=True, env=env)
    assert kill_when(_nafill("run", "-q"), lambda: _steps_in_store(store) >= 3, 120, env, poll_s=0.02), \
        "the kill should land mid-run"
    killed_at = _steps_in_store(store)  # the store survived the kill intact
    assert 3 <= killed_at < 8
    done = subprocess.run(_nafill("run", "-q"), env=env, capture_output=True, text=True, check=True)
    assert "COMPLETED" in done.stdout
    with open_launchpad() as lp:
        path = path_document(lp, 1)
    assert [s["n_na"] for s in path.steps] == list(range(1, 9))  # none duplicated, none missing
    ref = fill(cavity(1.19), get_backend("emt"), FillingPolicy(max_na=8))
    assert [s["energy_eV"] for s in path.steps] == [s["energy_eV"] for s in ref.steps]


def test_second_process_refused_and_first_data_survives(store):
    wf_id = _submit(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=2)))
    with open_launchpad() as lp:  # this process holds the store
        run_launchpad(lp, max_launches=2)
        other = subprocess.run(_nafill("run"), capture_output=True, text=True, env=dict(os.environ))
        assert other.returncode == 2
        assert f"is in use by process {os.getpid()}" in other.stderr
        assert len(other.stderr.strip().splitlines()) == 1
        run_launchpad(lp)
    with open_launchpad() as lp:
        assert len(path_document(lp, wf_id).steps) == 2


def test_lpad_commands_work_on_embedded_store(store):
    _submit(filling_workflow(cavity(1.05), "emt", policy=FillingPolicy(max_na=1), name="lpad-visible"))
    env = dict(os.environ, MONGOMOCK_SERVERSTORE_FILE=str(store))
    out = subprocess.run(["lpad", "get_wflows", "-d", "less"], capture_output=True, text=True, env=env, check=True)
    assert "lpad-visible" in out.stdout
    fws = subprocess.run(["lpad", "get_fws", "-d", "less"], capture_output=True, text=True, env=env, check=True)
    assert "lpad-visible: start" in fws.stdout


def test_studies_and_cli_status_export(store, tmp_path):
    wfs = orifice_scan_workflows([0.40, 0.50], policy=FillingPolicy(max_na=1))
    wfs += connected_study_workflows([0.5, 1.2], policy=FillingPolicy(max_na=2))
    with open_launchpad() as lp:
        ids = [min(lp.add_wf(w).values()) for w in wfs]
        run_launchpad(lp)
        rows = workflow_status(lp)
        export_run(lp, ids[-1], tmp_path / "exp")
    assert [r["state"] for r in rows] == ["COMPLETED"] * 4
    assert {w.metadata["nafill_study_kind"] for w in wfs} == {"orifice-scan", "connected"}
    exported = load_path(tmp_path / "exp")
    assert exported.host["info"]["pore_kind"] == "connected" and len(exported.steps) == 2
    assert (tmp_path / "exp" / "profile.png").exists()
    from nafill.cli import main

    assert main(["status"]) == 0
    assert main(["export", "999", "--out", str(tmp_path / "x")]) == 2


def test_spacing_workflow_relaxes_layers_and_fills_cavities(store):
    from nafill.workflows.fireworks.spacing import spacing_workflow
    from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION

    wf = spacing_workflow([2, 3], policy=FillingPolicy(max_na=2))
    _submit(wf)
    with open_launchpad() as lp:
        run_launchpad(lp)
        docs = {d["layers"]: d for d in lp.db[SPACINGS_COLLECTION].find()}
        rows = workflow_status(lp)
        fills = [r for r in rows if "layers -> cavity" in r["name"]]
    assert set(docs) == {2, 3}
    # the relaxed spacings are those of 2 and 3 Na layers (published PBE-D3: 0.82 and 1.05 nm)
    assert 0.70 < docs[2]["spacing_nm"] < 0.95
    assert docs[2]["spacing_nm"] + 0.2 < docs[3]["spacing_nm"] < 1.3
    assert len(fills) == 2 and all(r["state"] == "COMPLETED" and r["steps_done"] == 2 for r in fills)
    spacing_row = [r for r in rows if r["name"].startswith("spacing study") and "layers ->" not in r["name"]][0]
    assert spacing_row["spacings_nm"] == {2: docs[2]["spacing_nm"], 3: docs[3]["spacing_nm"]}


def test_fireworks_ladder_carries_the_cheap_hessian_to_the_relax_fireworks(store, like_surface_backend):
    """A surface like the surrogate's under a surrogate screen on FireWorks: the same path and the
    same expensive cost as in process, which only holds if the relax Fireworks start from the
    cheap Hessian too (the cold start costs more)."""
    name, options = like_surface_backend
    exp = get_backend(name, **options)
    policy = FillingPolicy(max_na=3, fmax_eV_A=0.01, screen_calculator="surrogate", screen_keep=1, screen_max=2)
    wf_id = _submit(filling_workflow(cavity(1.19), name, backend_options=options, policy=policy))
    with open_launchpad() as lp:
        run_launchpad(lp)
        fw_path = path_document(lp, wf_id)
    ref = fill(cavity(1.19), exp, policy, use_cache=False)
    cold = fill(cavity(1.19), exp, FillingPolicy(**{**policy.as_dict(), "screen_hessian": False}), use_cache=False)
    assert [s["energy_eV"] for s in fw_path.steps] == [s["energy_eV"] for s in ref.steps]
    cost = [[s["cost"][exp.name]["evaluations"] for s in p.steps] for p in (fw_path, ref, cold)]
    assert cost[0] == cost[1] and sum(cost[1]) < sum(cost[2])
