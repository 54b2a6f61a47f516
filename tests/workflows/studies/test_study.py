"""`nafill study` end to end on emt (reduced settings): kill it midway, re-run, nothing finished is
recomputed (counted from the launch records); report.json and every figure of report.html."""

import base64
import json
import os
import re
import subprocess
import sys

import pytest

from nafill.workflows.fireworks.launchpad import open_launchpad
from nafill.workflows.studies.report import FIGURES
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.studies.cost import RELAX_CALLS_ASSUMED
from nafill.workflows.studies.study import StudySettings, fill_cost, format_bill, plan_parts

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def _completed_in_store(store) -> int:
    """COMPLETED Fireworks in a flushed store file (0 while unreadable)."""
    try:
        text = store.read_text()
    except OSError:
        return 0
    return len(re.findall(r'"state": "COMPLETED"', text))


def _launch_records(lp):
    """fw_id -> (state, launch ids) for every Firework."""
    return {d["fw_id"]: (d["state"], list(d.get("launches", []))) for d in
            lp.fireworks.find({}, {"fw_id": 1, "state": 1, "launches": 1})}


def test_bill_and_plan_reduced():
    s = StudySettings.reduced_settings()
    parts = plan_parts(s.validate(), "tag")
    kinds = [p.kind for p in parts]
    assert kinds.count("neb") == 1 and kinds.count("spacing") == 1
    labels = [p.label for p in parts]
    assert "connected 0.5+1.2 nm" in labels and "cavity 1.2 nm" in labels  # the pair and its isolated cavity
    cav = next(p for p in parts if p.label == "cavity 1.82 nm")
    assert cav.expected_na == 8 and cav.policy["stop_sharp_rise_V"] == 0.25
    assert (cav.relaxations, cav.single_points) == (16, 96)  # 8 steps x (prescreen 2), 12 single points each
    bill = format_bill(parts, s)
    assert "relaxations" in bill and "total" in bill and "assumed (nothing measured yet)" in bill
    # with a fidelity ladder the fill's backend relaxes at most screen_max per step, no single points
    assert fill_cost(FillingPolicy(), 3, "vasp") == (9, 0, 9 * RELAX_CALLS_ASSUMED)
    # single fidelity: 4 kept per step, 2 perturbed at 2..6 Na (refine_max_na), 2 x 4 moves at 3..12 Na
    assert fill_cost(FillingPolicy(screen_calculator=None), 8, "mlip")[0] == 4 * 8 + 2 * 5 + 8 * 6
    assert fill_cost(FillingPolicy(), 8, "emt") == fill_cost(FillingPolicy(screen_calculator=None), 8, "mlip")
    # the surrogate: both at every step, as on a screen's cheap level
    assert fill_cost(FillingPolicy(), 8, "surrogate")[0] == 4 * 8 + 2 * 7 + 8 * 6
    # measured rates replace the assumption
    format_bill(parts, s, {"fill": {"per_unit": 10.0, "n": 5}})
    assert cav.calls == 80 and cav.calls_source == "measured"
    full = plan_parts(StudySettings().validate(), "tag")
    assert sum(p.step == "cavities" for p in full) == 6 and sum(p.step == "neb" for p in full) == 4
    # keys are stable (resume) and change with the study folder
    assert [p.key for p in plan_parts(s, "tag")] == [p.key for p in parts]
    assert plan_parts(s, "other")[0].key != parts[0].key


def test_bad_study_input_fails_early(tmp_path):
    from nafill.cli import main

    assert main(["study", "--out", str(tmp_path / "x"), "--only", "cavitiez"]) == 2
    assert main(["study", "--out", str(tmp_path / "x"), "--calculator", "nonesuch"]) == 2
    assert not (tmp_path / "x" / "report.html").exists()


def test_reduced_study_kill_resume_and_report(store, tmp_path, kill_when):
    out = tmp_path / "study"
    env = dict(os.environ, NAFILL_FLUSH_INTERVAL_S="0")
    cmd = [sys.executable, "-m", "nafill.cli", "study", "--out", str(out), "--reduced"]
    assert kill_when(cmd, lambda: _completed_in_store(store) >= 40, 300, env), "the kill should land mid-study"
    with open_launchpad() as lp:
        before = _launch_records(lp)
    finished = {fw: launches for fw, (state, launches) in before.items() if state == "COMPLETED"}
    assert len(finished) >= 10
    assert any(state != "COMPLETED" for state, _ in before.values())  # the kill landed midway

    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "relaxations" in done.stdout  # the bill comes first
    with open_launchpad() as lp:
        after = _launch_records(lp)
        n_workflows = lp.workflows.count_documents({})
    # nothing finished was recomputed: the same single launch for every finished Firework
    for fw, launches in finished.items():
        assert after[fw] == ("COMPLETED", launches)
    assert all(state == "COMPLETED" for state, _ in after.values())
    assert n_workflows == 8  # no part submitted twice

    doc = json.loads((out / "report.json").read_text())
    assert {p["state"] for p in doc["parts"]} == {"COMPLETED"}
    assert doc["tables"]["failed"] == []
    claims = doc["claims"]
    assert len(claims) >= 20
    for c in claims:
        assert set(c) == {"claim", "published", "computed", "agrees", "rule"}
        assert c["agrees"] in (True, False, None)
    by = {c["claim"]: c for c in claims}
    assert by["relaxed spacing with 2 Na layers"]["computed"] != "-"
    assert by["1.82 nm cavity: practical capacity (H rises sharply after it)"]["computed"].startswith(
        ("at least", "1", "2", "3", "4", "5", "6", "7", "8"))
    assert "not a validation" in doc["claims_note"]
    assert doc["tables"]["neb"][0]["climbed"]
    # the bill says what was spent: measured from the parts' records, launches from the launch records
    cost = doc["cost"]
    assert cost["total_evaluations"] == sum(r["measured_evaluations"] for r in cost["parts"]) > 0
    neb_cost = next(r for r in cost["parts"] if r["kind"] == "neb")
    assert neb_cost["measured_evaluations"] > 0 and "counted" in neb_cost["measured_source"]
    assert all(r["measured_evaluations"] > 0 for r in cost["parts"])
    assert cost["launches"]["fireworks"] == len(after)
    assert cost["launches"]["launches"] >= cost["launches"]["fireworks"]  # the killed launch counts too
    assert "spent (measured)" in done.stdout
    cav = {r["size_nm"]: r for r in doc["tables"]["cavities"]}
    assert set(cav) == {1.19, 1.82}
    cap = cav[1.82]["profile"]["capacity"]
    assert cap["valence_source"] == "assumed" and cap["valence"] == pytest.approx(0.90)
    assert (out / cav[1.82]["run_dir"] / "path.json").exists()

    page = (out / "report.html").read_text()
    for fid in FIGURES:
        m = re.search(rf"<figure id='fig-{fid}'><img alt='{fid}' src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
        assert m, fid
        assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "not a validation" in page and "published" in page
    assert "src='http" not in page and "<link" not in page  # self-contained

    # a third run finds everything done and launches nothing
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.count(": done") == 8
    with open_launchpad() as lp:
        assert _launch_records(lp) == after
