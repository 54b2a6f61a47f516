"""The study's bill: what a study will cost (estimated before it runs) and what it spent (measured).

*Measured* numbers come from the records the parts leave behind, never from a model:

* a fill: the ``cost`` of every step of its path document (per backend: ``evaluations``, the
  energy+force calls; ``relaxations``; ``single_points``; ``wall_s``), summed
  (:func:`nafill.workflows.engine.summary.run_cost`);
* an orifice NEB: the ``cost`` of its result (calls counted on every image's calculator plus the
  end-point relaxations);
* the spacing step: the ``cost`` of each layer count's relaxation record;
* every part: its FireWorks launch records (launches, completed launches, their run time), which
  also show work redone after a killed runner.

The *estimate* printed before submission counts relaxations and single points from the policy
(exact upper bounds), and energy+force calls from measured rates where this study has already
spent some (per Na step of a fill, per NEB, per spacing relaxation; e.g. when it is resumed);
only where nothing has been measured yet does it fall back to the stated assumption
(:data:`RELAX_CALLS_ASSUMED` calls per relaxation, :data:`NEB_CALLS_ASSUMED` per NEB image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nafill.workflows.engine.ladder import CostMeter

RELAX_CALLS_ASSUMED = 40
"""Energy+force calls per full relaxation assumed by the estimate when nothing is measured yet."""
NEB_CALLS_ASSUMED = 150
"""Energy+force calls per NEB image assumed by the estimate when nothing is measured yet."""

COST_FIELDS = ("evaluations", "relaxations", "single_points", "wall_s")


def _merge(*costs: dict[str, Any]) -> dict[str, dict[str, float]]:
    meter = CostMeter()
    for c in costs:
        meter.merge(c or {})
    return meter.as_dict()


def _evaluations(cost: dict[str, Any]) -> int:
    return int(sum(v.get("evaluations", 0) for v in (cost or {}).values()))


def record_cost(rec: dict[str, Any]) -> tuple[dict[str, dict[str, float]], str]:
    """Measured cost of one collected part (see :func:`nafill.workflows.studies.study.collect`):
    ``(per-backend cost, where it was read)``."""
    kind = rec["part"]["kind"]
    if kind == "fill":
        steps = (rec.get("path") or {}).get("steps") or []
        if not steps:
            return {}, "no step finished"
        return _merge(*[s.get("cost") for s in steps]), f"path document: cost of {len(steps)} step(s)"
    if kind == "neb":
        neb = rec.get("neb")
        if not neb:
            return {}, "not finished"
        if neb.get("cost"):
            return _merge(neb["cost"]), "NEB result: calls counted on the image calculators and end-point relaxations"
        return {}, "NEB result without a cost record (older nafill)"
    if kind == "spacing":
        rows = rec.get("spacings") or []
        costs = [r["cost"] for r in rows if r.get("cost")]
        if not rows:
            return {}, "not finished"
        if len(costs) < len(rows):
            return _merge(*costs), f"{len(costs)} of {len(rows)} spacing record(s) carry a cost (older nafill)"
        return _merge(*costs), f"spacing records: {len(rows)} relaxation(s)"
    return {}, "not run"


def launch_record(lp, wf_id: int | None) -> dict[str, Any]:
    """Launches of a workflow's Fireworks from the LaunchPad: how many, how many completed, and
    their summed run time (s); launches beyond one per Firework are work redone."""
    out = {"fireworks": 0, "launches": 0, "completed_launches": 0, "runtime_s": 0.0}
    if wf_id is None:
        return out
    wf = lp.workflows.find_one({"nodes": int(wf_id)}, {"nodes": 1})
    if wf is None:
        return out
    ids: list[int] = []
    for fw in lp.fireworks.find({"fw_id": {"$in": list(wf["nodes"])}}, {"launches": 1, "archived_launches": 1}):
        out["fireworks"] += 1
        ids += list(fw.get("launches") or []) + list(fw.get("archived_launches") or [])
    for launch in lp.launches.find({"launch_id": {"$in": ids}}, {"state": 1, "runtime_secs": 1}):
        out["launches"] += 1
        out["completed_launches"] += launch.get("state") == "COMPLETED"
        out["runtime_s"] += float(launch.get("runtime_secs") or 0.0)
    out["runtime_s"] = round(out["runtime_s"], 3)
    return out


def study_cost(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``cost`` section: per part the estimate beside the measured spend, and totals."""
    rows = []
    totals: list[dict[str, Any]] = []
    launches = {"fireworks": 0, "launches": 0, "completed_launches": 0, "runtime_s": 0.0}
    for rec in records:
        part = rec["part"]
        measured = rec.get("cost") or {}
        totals.append(measured)
        lr = rec.get("launches") or {}
        for k in launches:
            launches[k] += lr.get(k, 0)
        rows.append({
            "part": part["label"], "kind": part["kind"], "state": rec.get("state"),
            "estimated": {"relaxations": part.get("relaxations"), "single_points": part.get("single_points"),
                          "evaluations": part.get("calls"), "evaluations_source": part.get("calls_source")},
            "measured": measured,
            "measured_evaluations": _evaluations(measured),
            "measured_source": rec.get("cost_source"),
            "launches": lr,
        })
    total = _merge(*totals)
    launches["runtime_s"] = round(launches["runtime_s"], 3)
    return {
        "parts": rows,
        "total": total,
        "total_evaluations": _evaluations(total),
        "launches": launches,
        "note": ("measured: energy+force evaluations, relaxations, single points and compute time per backend, "
                 "summed from the parts' own records (path steps, NEB results, spacing records); launches from "
                 "the FireWorks launch records. The estimate is the bill printed before submission."),
    }


def measured_rates(lp, tag: str) -> dict[str, dict[str, float]]:
    """Energy+force evaluations this study has spent so far, as rates for the estimate:
    ``fill`` per Na step, ``neb`` per NEB, ``spacing`` per layer relaxation (kinds with no
    measurement are absent)."""
    from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION
    from nafill.workflows.fireworks.neb import NEB_COLLECTION
    from nafill.workflows.fireworks.runner import path_document

    sums = {"fill": [0, 0], "neb": [0, 0], "spacing": [0, 0]}
    for wf in lp.workflows.find({"metadata.nafill_study_tag": tag}, {"nodes": 1, "metadata": 1}):
        meta = wf.get("metadata", {})
        kind = meta.get("nafill_kind")
        try:
            if meta.get("nafill_path_id"):
                path = path_document(lp, min(wf["nodes"]))
                for s in (path.steps if path else []):
                    if s.get("cost"):
                        sums["fill"][0] += _evaluations(s["cost"])
                        sums["fill"][1] += 1
            elif kind == "neb":
                doc = lp.db[NEB_COLLECTION].find_one({"key": meta.get("nafill_key")})
                cost = ((doc or {}).get("result") or {}).get("cost")
                if cost:
                    sums["neb"][0] += _evaluations(cost)
                    sums["neb"][1] += 1
            elif kind == "spacing":
                for d in lp.db[SPACINGS_COLLECTION].find({"study": meta.get("nafill_study")}):
                    if d.get("cost"):
                        sums["spacing"][0] += _evaluations(d["cost"])
                        sums["spacing"][1] += 1
        except Exception:  # noqa: BLE001 - a rate is a convenience; a broken record must not stop the bill
            continue
    return {k: {"per_unit": v[0] / v[1], "n": v[1]} for k, v in sums.items() if v[1]}
