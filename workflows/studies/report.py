"""The study report: ``report.json`` (every number behind the page) and ``report.html`` (one
self-contained page, figures embedded as base64 PNG, then the claims table)."""

from __future__ import annotations

import base64
import datetime
import html
import json
from pathlib import Path
from typing import Any

from nafill import __version__
from nafill.analysis import study_figures as figs
from nafill.analysis.claims import PUBLISHED, barrier_fit, claims, profile_row
from nafill.analysis.profile import STRICT_RULE, study_rule
from nafill.analysis.report import _clean
from nafill.io import atomic_write_text
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.studies.cost import study_cost

FIGURES = ("spacing", "cavities", "barrier_valence", "orifices", "connected", "neb")
"""Figure ids, in page order (every one is on the page, with a note when its step did not run)."""

DISCLAIMER = ("This table compares the chosen backend's numbers with the published PBE-D3 values, "
              "claim by claim, under the stated rules. It is a comparison for this backend, not a "
              "validation of the backend or of the study.")


def _fill_row(rec, settings) -> dict[str, Any]:
    part = rec["part"]
    layers = part.get("layers")
    size = max(part["sizes_nm"])
    row = {"label": part["label"], "size_nm": size, "sizes_nm": part["sizes_nm"],
           "state": rec["state"], "error": rec.get("error"), "wf_id": rec.get("wf_id"), "run_dir": rec.get("run_dir"),
           "profile": None, "layers": layers,
           # the published cavity this one stands for: by size, or (cavities from step 1) by layer count
           "published_size_nm": PUBLISHED["spacings_nm"].get(layers, size) if layers else size}
    if rec.get("path") and rec["path"].get("steps"):
        row["profile"] = profile_row(FillingPath.from_dict(rec["path"]), settings.assumed_valence,
                                     settings.mass_convention, settings.sharp_rise_V)
    return row


def study_tables(records, settings) -> dict[str, Any]:
    """Per-step tables from the collected records (see :func:`nafill.workflows.studies.study.collect`)."""
    fills = {r["part"]["label"]: r for r in records if r["part"]["kind"] == "fill"}
    tables: dict[str, Any] = {"spacing": [], "cavities": [], "orifices": [], "connected": [], "neb": [], "failed": []}
    for rec in records:
        part = rec["part"]
        if rec["state"] not in ("COMPLETED",) or rec.get("error"):
            tables["failed"].append({"part": part["label"], "state": rec["state"], "error": rec.get("error"),
                                     "wf_id": rec.get("wf_id")})
        if part["kind"] == "spacing":
            got = {d["layers"]: d for d in rec.get("spacings") or []}
            for k in settings.layers:
                d = got.get(k, {})
                tables["spacing"].append({"layers": k, "spacing_nm": d.get("spacing_nm"),
                                          "published_nm": PUBLISHED["spacings_nm"].get(k), "converged": d.get("converged")})
        elif part["kind"] == "neb":
            r = rec.get("neb")
            row = {"spacing_nm": part["sizes_nm"][0], "state": rec["state"], "error": rec.get("error"),
                   "barrier_eV": None, "published_eV": PUBLISHED["neb_eV"].get(round(part["sizes_nm"][0], 3))}
            if r:
                row.update({k: r.get(k) for k in ("barrier_eV", "reverse_barrier_eV", "energies_eV", "path_A",
                                                  "hop_distance_A", "converged", "climbed", "climb_displacement_A",
                                                  "climb_steps", "max_force_eV_A", "lowest_interior_eV", "splits",
                                                  "initial_band_eV", "initial_hop_distance_A", "n_steps")})
            tables["neb"].append(row)
        elif part["step"] == "cavities":
            tables["cavities"].append(_fill_row(rec, settings))
        elif part["step"] == "orifices":
            tables["orifices"].append(_fill_row(rec, settings))
    for pair in settings.connected_nm if "connected" in settings.steps else []:
        label = f"connected {'+'.join(f'{x:g}' for x in pair)} nm"
        iso = fills.get(f"cavity {max(pair):g} nm")
        con = fills.get(label)
        isorow = _fill_row(iso, settings) if iso else None
        conrow = _fill_row(con, settings) if con else None
        tables["connected"].append({
            "sizes_nm": list(pair),
            "isolated": isorow["profile"] if isorow else None,
            "connected": conrow["profile"] if conrow else None,
            "state": conrow["state"] if conrow else "NOT RUN",
            "error": conrow["error"] if conrow else None,
            "published_negative": PUBLISHED["connected_negative"].get(tuple(pair)),
        })
    tables["cavities"].sort(key=lambda r: r["size_nm"])
    tables["orifices"].sort(key=lambda r: r["size_nm"])
    tables["neb"].sort(key=lambda r: r["spacing_nm"])
    tables["barrier_fit"] = barrier_fit(tables["cavities"])
    return tables


def definitions(settings) -> dict[str, str]:
    return {
        "formation_enthalpy": "H(x) = E(x) - E(0) - x mu_Na (eV), mu_Na the energy per atom of bcc Na with the same backend",
        "step_voltage": "V(x-1 -> x) = -(E(x) - E(x-1) - mu_Na)/e (V vs Na/Na+)",
        "nucleation_barrier": "highest H before H first falls by more than 0.05 eV below its running maximum; "
                              "n* is the Na count there",
        "practical_capacity_strict": STRICT_RULE,
        "practical_capacity_study": study_rule(settings.sharp_rise_V) + " (used by the claims table)",
        "capacity_cap": "a capacity equal to the fill's max_na cap, or with no sharp rise before the path ended, is a "
                        "lower bound and reported as 'at least N'",
        "mAh_g": f"Q = x v F / (3.6 M_host), M_host = {settings.mass_convention} carbon of the model; v = average Bader "
                 f"valence when the backend gives it, else the assumed {settings.assumed_valence:.2f} e/Na "
                 "(the published 501 mAh/g for 16 Na over 64 C implies 0.90 e/Na)",
        "peak_H": "connected pores (filled narrow first): highest H the growth in the widest part crosses, from where "
                  "that part opened until H falls by > 0.05 eV (nucleation); a lower bound if it never falls (then it "
                  "decides 'positive' once above 0, and nothing below 0); 'barrier negative' = peak_H < 0. Isolated "
                  "cavities and fills without a fill order: highest H before the path's deepest point",
        "diffusion_barrier": "climbing-image NEB of one Na between adjacent relaxed minima (the band is cut at any "
                             "intermediate minimum); barrier = highest image - initial state",
        "stop_rule": f"cavity and orifice fills stop {settings.stop_margin} step(s) after the sharp rise that decides "
                     f"the study reading (threshold {settings.sharp_rise_V:g} V), or at their cap",
    }


def build_report(records, settings, wall_s: float | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The report document (JSON-safe) and the figures (PNG bytes by id)."""
    tables = study_tables(records, settings)
    from nafill.workflows.backends.registry import get_backend

    backend = get_backend(settings.calculator, **settings.calc_options).describe()
    doc = {
        "schema": "nafill.study-report/1",
        "nafill_version": __version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "calculator": settings.calculator,
        "backend": backend,
        "settings": settings.as_dict(),
        "wall_s": wall_s,
        "parts": [{"part": r["part"]["label"], "step": r["part"]["step"], "kind": r["part"]["kind"],
                   "wf_id": r.get("wf_id"), "state": r["state"], "error": r.get("error"),
                   "run_dir": r.get("run_dir")} for r in records],
        "definitions": definitions(settings),
        "tables": tables,
        "claims": claims(tables),
        "claims_note": DISCLAIMER,
        "figures": list(FIGURES),
        "cost": study_cost(records),
    }
    valence_note = (f"no Bader charges from backend {settings.calculator!r}:\n"
                    f"mAh/g assume {settings.assumed_valence:.2f} e/Na")
    pngs = {
        "spacing": figs.fig_spacing(tables["spacing"] or [{"layers": k, "published_nm": v, "spacing_nm": None}
                                                          for k, v in PUBLISHED["spacings_nm"].items()]),
        "cavities": figs.fig_cavities(tables["cavities"], {1.82: PUBLISHED["practical_1.82"]}),  # by published size
        "barrier_valence": figs.fig_barrier_valence(tables["cavities"], tables["barrier_fit"], valence_note),
        "orifices": figs.fig_orifices(tables["orifices"], PUBLISHED["orifice_favourable_nm"]),
        "connected": figs.fig_connected(tables["connected"]),
        "neb": figs.fig_neb(tables["neb"], PUBLISHED["neb_eV"]),
    }
    return _clean(doc), pngs


CAPTIONS = {
    "spacing": "Step 1. Relaxed wall spacing of 2-7 bcc Na layers between two graphene walls (walls and Na relaxed).",
    "cavities": "Step 2. Formation enthalpy H(x) of each cavity along the lowest-enthalpy path; practical capacity "
                "marked in both readings (green dashed: study reading; purple dotted: strict reading; black dashed: "
                "published value where one exists).",
    "barrier_valence": "Nucleation barrier against cavity size with the fit barrier = a d^2, and the average Bader "
                       "valence of the stored Na.",
    "orifices": "Orifice fills: H(x) per spacing, and the first Na's H against spacing beside the published "
                "favourable range (grey band).",
    "connected": "Pre-nucleation: each connected pore, filled narrow first (the narrowest section that is not full "
                 "takes the next Na), against its wide section alone; the grey dotted line marks where the narrow "
                 "section was full and the next section opened.",
    "neb": "Na diffusion through the orifice: barrier against spacing (published values as black open squares) "
           "and each NEB energy profile.",
}

CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;max-width:1250px;margin:20px auto;color:#222;font-size:15px}
h1{font-size:24px} h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:14px} td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top}
th{background:#eee} td.pub{background:#f3f3f3;font-style:italic} td.comp{background:#eaf2fb;font-weight:bold}
td.yes{background:#d9f2d9} td.no{background:#f8d7d7} td.und{background:#fff3cd}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:8px 12px;margin:10px 0}
.fail{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px;margin:10px 0}
figure{margin:10px 0 22px 0} img{max-width:100%;border:1px solid #ddd} figcaption{font-size:13px;color:#444}
code{font-size:13px}
"""


def _e(x) -> str:
    return html.escape("-" if x is None else str(x))


def render_html(doc: dict[str, Any], pngs: dict[str, bytes]) -> str:
    s = doc["settings"]
    parts = []
    parts.append(f"<h1>nafill closed-pore study: backend <code>{_e(doc['calculator'])}</code></h1>")
    parts.append(f"<p>nafill {_e(doc['nafill_version'])}, {_e(doc['created'])}; "
                 f"{'reduced (CI) settings; ' if s.get('reduced') else ''}steps: {_e(', '.join(s['steps']))}; "
                 f"this command's wall time {_e(round(doc['wall_s'] or 0))} s (what every part spent: the Cost section). Numbers: <code>report.json</code>; "
                 f"every fill's run folder under <code>runs/</code>.</p>")
    parts.append(f"<div class='note'><b>What the claims table is.</b> {_e(doc['claims_note'])}</div>")
    failed = doc["tables"].get("failed") or []
    if failed:
        items = "".join(f"<li><b>{_e(f['part'])}</b> (workflow {_e(f['wf_id'])}): {_e(f['state'])}"
                        f"{': ' + _e(f['error']) if f.get('error') else ''}</li>" for f in failed)
        parts.append(f"<div class='fail'><b>Parts not finished or failed</b> (the rest of the report uses what "
                     f"finished; re-run the command to resume):<ul>{items}</ul></div>")
    # claims
    rows = []
    for c in doc["claims"]:
        ag = c["agrees"]
        cls, word = ("yes", "yes") if ag is True else (("no", "no") if ag is False else (
            "und", "not computed" if c["computed"] in ("-", None) else "undecided"))
        rows.append(f"<tr><td>{_e(c['claim'])}</td><td class='pub'>{_e(c['published'])}</td>"
                    f"<td class='comp'>{_e(c['computed'])}</td><td class='{cls}'>{word}</td><td>{_e(c['rule'])}</td></tr>")
    parts.append("<h2>Claims: published value beside this run's value</h2>"
                 "<p>Published values (grey, italic) are from the study's text (PBE-D3); computed values (blue, bold) "
                 f"are this run's with backend <code>{_e(doc['calculator'])}</code>. Capacities use the study's reading.</p>"
                 "<table><tr><th>claim</th><th>published</th><th>computed (this run)</th><th>agrees</th><th>rule</th></tr>"
                 + "".join(rows) + "</table>")
    # figures
    parts.append("<h2>Figures</h2>")
    for fid in FIGURES:
        b64 = base64.b64encode(pngs[fid]).decode()
        parts.append(f"<figure id='fig-{fid}'><img alt='{fid}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{_e(CAPTIONS[fid])}</figcaption></figure>")
    # capacities table
    cav = doc["tables"]["cavities"]
    if cav:
        trs = []
        for r in cav:
            p = r.get("profile")
            if not p:
                trs.append(f"<tr><td>{_e(r['size_nm'])}</td><td colspan='8'>{_e(r['state'])} {_e(r.get('error'))}</td></tr>")
                continue
            c, n = p["capacity"], p["nucleation"]
            trs.append(
                f"<tr><td>{r['size_nm']:g}</td><td>{_e(n['status'])}</td><td>{_e(n['barrier_eV'] and round(n['barrier_eV'], 3))}</td>"
                f"<td>{_e(n['critical_size'])}</td>"
                f"<td>{'at least ' if c['practical_at_least'] else ''}{c['practical_na']}</td>"
                f"<td>{'at least ' if c['practical_study_at_least'] else ''}{c['practical_study_na']}</td>"
                f"<td>{_e(c['theoretical_na'])}</td><td>{c['practical_study_mAh_g']:.0f}</td>"
                f"<td>{_e(p['stop_reason'])}</td></tr>")
        parts.append("<h2>Capacities</h2><p>mAh/g with " + _e(cav[0]["profile"]["assumption"] if cav[0].get("profile") else "")
                     + ".</p><table><tr><th>cavity (nm)</th><th>nucleation</th><th>barrier (eV)</th><th>n* (Na)</th>"
                       "<th>practical, strict (Na)</th><th>practical, study (Na)</th><th>theoretical (Na)</th>"
                       "<th>practical, study (mAh/g)</th><th>fill stopped because</th></tr>" + "".join(trs) + "</table>")
    # the bill: estimate beside what was spent
    cost = doc.get("cost")
    if cost:
        trs = []
        for r in cost["parts"]:
            est = r["estimated"]
            per = "<br>".join(f"{_e(name)}: {int(c['evaluations'])} calls, {int(c['relaxations'])} relax., "
                              f"{int(c['single_points'])} s.p., {c['wall_s']:.0f} s" for name, c in r["measured"].items())
            lr = r.get("launches") or {}
            trs.append(f"<tr><td>{_e(r['part'])}</td><td>{_e(r['state'])}</td>"
                       f"<td>{_e(est.get('evaluations'))} ({_e(est.get('evaluations_source'))})</td>"
                       f"<td class='comp'>{r['measured_evaluations']}</td><td>{per or '-'}</td>"
                       f"<td>{_e(lr.get('launches'))} / {_e(lr.get('fireworks'))}</td>"
                       f"<td>{(lr.get('runtime_s') or 0):.0f}</td></tr>")
        tot = "; ".join(f"{_e(name)}: {int(c['evaluations'])} energy+force calls, {int(c['relaxations'])} relaxations, "
                        f"{int(c['single_points'])} single points, {c['wall_s']:.0f} s" for name, c in cost["total"].items())
        lr = cost["launches"]
        parts.append("<h2>Cost: estimated before the run, measured after it</h2>"
                     f"<p><b>Spent:</b> {cost['total_evaluations']} energy+force calls ({tot or 'nothing yet'}); "
                     f"{lr['launches']} FireWorks launch(es) of {lr['fireworks']} Firework(s), {lr['runtime_s']:.0f} s "
                     f"of launch time. {_e(cost['note'])}</p>"
                     "<table><tr><th>part</th><th>state</th><th>estimated E+F calls (source)</th>"
                     "<th>measured E+F calls</th><th>measured, per backend</th><th>launches / Fireworks</th>"
                     "<th>launch time (s)</th></tr>" + "".join(trs) + "</table>")
    # definitions
    defs = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in doc["definitions"].items())
    parts.append(f"<h2>Definitions and rules</h2><table>{defs}</table>")
    prow = "".join(f"<tr><td>{_e(p['part'])}</td><td>{_e(p['wf_id'])}</td><td>{_e(p['state'])}</td>"
                   f"<td>{_e(p.get('run_dir'))}</td></tr>" for p in doc["parts"])
    parts.append(f"<h2>Workflows</h2><table><tr><th>part</th><th>workflow</th><th>state</th><th>run folder</th></tr>"
                 f"{prow}</table>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>nafill study report</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>")


def write_report(records, settings, out_dir, wall_s: float | None = None) -> dict[str, Any]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; return the JSON document."""
    out_dir = Path(out_dir)
    doc, pngs = build_report(records, settings, wall_s)
    atomic_write_text(out_dir / "report.json", json.dumps(doc, indent=1))
    atomic_write_text(out_dir / "report.html", render_html(doc, pngs))
    return doc
