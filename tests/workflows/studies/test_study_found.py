"""`nafill study --cavities found`: cavities at step 1's relaxed spacings (planned once step 1 is done,
resumable), and the measured bill (report.json's cost section against the parts' own records)."""

import json

import pytest

from nafill.errors import NafillInputError
from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION, open_launchpad
from nafill.workflows.studies.study import StudySettings, format_bill, plan_parts, run_study

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning")]


def _settings():
    return StudySettings.reduced_settings(calculator="emt", steps=["cavities"], cavity_source="found", layers=[2, 3],
                                          cavity_max_na=3)


def _launches(lp):
    return {d["fw_id"]: (d["state"], list(d.get("launches", []))) for d in
            lp.fireworks.find({}, {"fw_id": 1, "state": 1, "launches": 1})}


def test_found_cavities_plan_and_validation():
    s = _settings().validate()
    parts = plan_parts(s, "tag")
    assert [p.kind for p in parts] == ["spacing", "waiting", "waiting"]  # cavities need step 1
    assert [p.layers for p in parts[1:]] == [2, 3] and parts[1].sizes_nm == [0.82]  # billed at the published size
    assert "waiting" in format_bill(parts, s) or "until step 1" in format_bill(parts, s)
    found = plan_parts(s, "tag", {2: 0.81284, 3: 1.13149})
    assert [p.label for p in found[1:]] == ["cavity 0.813 nm (2 layers)", "cavity 1.131 nm (3 layers)"]
    assert [p.kind for p in found] == ["spacing", "fill", "fill"]
    # the same sizes give the same keys (a re-run finds the workflows); a spacing out of range is skipped
    assert [p.key for p in plan_parts(s, "tag", {2: 0.81284, 3: 1.13149})] == [p.key for p in found]
    odd = plan_parts(s, "tag", {2: 0.5, 3: 1.13149})
    assert odd[1].kind == "skipped" and "outside the cavity range" in odd[1].error
    with pytest.raises(NafillInputError, match="cavities"):
        StudySettings(cavity_source="measured").validate()


@pytest.mark.slow
def test_found_cavities_run_resume_and_measured_cost(store, tmp_path):
    out = tmp_path / "study"
    s = _settings()
    sub = run_study(s, out, run=False, echo=lambda *_: None)  # submit only: cavities wait for step 1
    assert {r["state"] for r in sub.records if r["part"]["step"] == "cavities"} == {"WAITING FOR STEP 1"}
    assert json.loads((out / "report.json").read_text())["tables"]["failed"]

    lines: list[str] = []
    res = run_study(_settings(), out, echo=lines.append)
    with open_launchpad() as lp:
        spacings = {d["layers"]: d for d in lp.db[SPACINGS_COLLECTION].find({})}
        first = _launches(lp)
    assert set(spacings) == {2, 3}
    cav = [r for r in res.records if r["part"]["step"] == "cavities"]
    assert [r["state"] for r in cav] == ["COMPLETED", "COMPLETED"]
    assert [r["part"]["sizes_nm"][0] for r in cav] == [round(spacings[k]["spacing_nm"], 3) for k in (2, 3)]
    assert any("step 1 done" in line for line in lines)

    doc = json.loads((out / "report.json").read_text())
    rows = doc["tables"]["cavities"]
    assert [r["layers"] for r in rows] == [2, 3] and rows[0]["published_size_nm"] == 0.82
    # the bill says what was spent, from the parts' own records
    cost = doc["cost"]
    by = {r["part"]: r for r in cost["parts"]}
    for r in cav:
        steps = r["path"]["steps"]
        want = sum(c["evaluations"] for st in steps for c in st["cost"].values())
        assert by[r["part"]["label"]]["measured_evaluations"] == want > 0
    sp = by[next(p["part"] for p in doc["parts"] if p["kind"] == "spacing")]
    assert sp["measured_evaluations"] == sum(spacings[k]["cost"]["emt"]["evaluations"] for k in (2, 3))
    assert sp["measured"]["emt"]["relaxations"] == 2
    assert cost["total_evaluations"] == sum(r["measured_evaluations"] for r in cost["parts"])
    assert cost["launches"]["launches"] == cost["launches"]["fireworks"] == len(first)  # nothing ran twice
    assert "Cost: estimated before the run, measured after it" in (out / "report.html").read_text()

    # a re-run plans the same cavities, launches nothing, and bills from the measured rates
    lines.clear()
    again = run_study(_settings(), out, echo=lines.append)
    with open_launchpad() as lp:
        assert _launches(lp) == first
    assert again.ids == res.ids
    bill = "\n".join(lines)
    assert "measured in this study so far" in bill and "per Na step" in bill and "spent (measured)" in bill
