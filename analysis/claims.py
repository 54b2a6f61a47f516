"""The published study's claims set beside a run's numbers (``nafill study``'s claims table).

:data:`PUBLISHED` holds the values from the study's text; :func:`study_tables` turns a study's
path documents / NEB / spacing records into per-part tables, and :func:`claims` compares them,
each row ``{claim, published, computed, agrees, rule}``. ``agrees`` is True, False or None (not
computed, or undecided: e.g. a capacity that is only a lower bound below the published value).

Readings used (stated in every report):

* practical capacity: the study reading (:func:`nafill.analysis.profile.study_practical_capacity`);
* nucleation barrier: :func:`nafill.analysis.profile.nucleation_barrier` (tol 0.05 eV);
* "the barrier turns negative" (connected pores): the highest H the growth in the wide part
  crosses before it nucleates. For a narrow-first fill (the study's), the growth starts where the
  widest section opened (x0): ``peak_H`` is the running maximum of H from x0 until H first falls
  more than 0.05 eV below it (nucleation); if H never falls within the run, ``peak_H`` is only a
  lower bound, which decides "positive" once it is above 0 and leaves "negative" undecided. For a
  fill without a fill order: ``peak_H = max_{x <= x_min} H(x)`` with ``x_min`` the last global
  minimum of H. Negative means the pore fills without ever crossing H > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nafill.analysis.capacity import capacity_report
from nafill.analysis.nucleation import fit_barrier_vs_size
from nafill.analysis.profile import nucleation_barrier
from nafill.constants import STANDARD_CAVITY_SPACINGS_NM
from nafill.workflows.engine.documents import FillingPath

PUBLISHED: dict[str, Any] = {
    "spacings_nm": dict(STANDARD_CAVITY_SPACINGS_NM),
    "theoretical_1.82": 34,
    "practical_1.82": 16,
    "mAh_g": {1.82: 501.0, 2.18: 642.0},
    "orifice_favourable_nm": (0.39, 0.70),
    "connected_negative": {(0.5, 1.2): True, (0.5, 1.48): True, (0.5, 1.82): False, (1.2, 1.82): True},
    "neb_eV": {0.40: 0.55, 0.45: 0.25, 0.50: 0.0, 0.55: 0.0},
}
"""Published values (Nano-Micro Letters 2026, closed-pore study; PBE-D3)."""

SPACING_TOL_NM = 0.05
CAPACITY_TOL_NA = 2
MAH_G_TOL = 0.10
D2_R2_MIN = 0.8
NEB_TOL_EV = 0.10
NEB_TOL_REL = 0.30
NEGLIGIBLE_EV = 0.05


def peak_before_minimum(h) -> float | None:
    """``max_{x <= x_min} H(x)``: the highest H crossed before the last global minimum (eV)."""
    h = np.asarray(h, float)
    if len(h) == 0:
        return None
    k = int(np.where(h <= h.min() + 1e-12)[0].max())
    return float(h[: k + 1].max())


GROWTH_RULE = ("peak_H = highest H of the growth in the widest part (from where it opened, narrow first) until H "
               "falls by > 0.05 eV (nucleation); a lower bound if it never falls; negative = peak_H < 0")
MINIMUM_RULE = "peak_H = max H before the path's deepest point; negative = peak_H < 0"


def growth_peak(h, n, opened, tol_eV: float = 0.05) -> dict[str, Any]:
    """``peak_H`` of a connected-pore path (see the module docstring): ``{"peak_H_eV", "lower_bound",
    "decided", "from_na", "rule"}``; ``opened`` is :func:`sections_opened` of the path."""
    h = np.asarray(h, float)
    wide = [o for o in (opened or []) if o.get("spacing_nm") is not None]
    out = {"peak_H_eV": None, "lower_bound": True, "decided": False, "from_na": None, "rule": GROWTH_RULE}
    if not len(h):
        return out
    if not wide:
        return dict(out, peak_H_eV=peak_before_minimum(h), lower_bound=False, decided=True, rule=MINIMUM_RULE)
    if len(wide) < 2:  # the narrow part never filled: no growth in a wider part yet
        return dict(out, peak_H_eV=float(h.max()))
    x0 = int(wide[-1]["n_na"])  # the Na that opened the widest section reached so far
    k0 = int(np.searchsorted(np.asarray(n, int), x0))
    peak = float(h[k0 - 1]) if k0 > 0 else 0.0
    for v in h[k0:]:
        if v < peak - tol_eV:  # nucleated: the barrier is known
            return dict(out, peak_H_eV=peak, lower_bound=False, decided=True, from_na=x0)
        peak = max(peak, float(v))
    # no nucleation within the run: a lower bound, which decides "positive" once it is above 0
    return dict(out, peak_H_eV=peak, decided=peak > 0, from_na=x0)


def isolated_barrier_text(profile: dict[str, Any] | None) -> str:
    """What the isolated counterpart of a connected pore must cross: its nucleation barrier
    (``barrier +1.67 eV at n* = 7``), or its highest H when it has none. Not ``peak_H`` of the
    minimum rule: in a cavity whose H stays above H(1), that is H(1), not a barrier."""
    if not profile or not profile.get("H_eV"):
        return "-"
    nuc = profile.get("nucleation") or {}
    if nuc.get("status") == "barrier" and nuc.get("barrier_eV") is not None:
        return f"barrier {nuc['barrier_eV']:+.2f} eV at n* = {nuc.get('critical_size')}"
    return f"no barrier ({nuc.get('status', 'unknown')}), highest H {max(profile['H_eV']):+.2f} eV"


def profile_row(path: FillingPath, valence: float, mass_convention: str = "all-carbon",
                sharp_rise_V: float = 0.25) -> dict[str, Any]:
    """One fill's profile, barrier and both capacity readings (JSON-safe)."""
    n = [s["n_na"] for s in path.steps]
    h = [s["formation_enthalpy_eV"] for s in path.steps]
    v = [s["step_voltage_V"] for s in path.steps]
    nuc = nucleation_barrier(h, n)
    cap = capacity_report(path, mass_convention, default_valence=valence, sharp_rise_V=sharp_rise_V)
    bader = [s.get("na_bader_valence") for s in path.steps if s.get("na_bader_valence") is not None]
    row = {
        "n_na": n, "H_eV": h, "step_voltage_V": v,
        "nucleation": nuc.as_dict(),
        "peak_H_eV": peak_before_minimum(h),
        "capacity": cap.as_dict(),
        "assumption": cap.assumption,
        "bader_valence_mean": float(np.mean(bader)) if bader else None,
        "max_na": (path.policy or {}).get("max_na"),
        "stop_reason": path.state.get("stop_reason"),
        "finished": bool(path.state.get("finished")),
        "sections_opened": sections_opened(path.steps),
    }
    if row["sections_opened"]:
        g = growth_peak(h, n, row["sections_opened"])
        row.update(peak_H_eV=g["peak_H_eV"], peak_H_decided=g["decided"], peak_H_lower_bound=g["lower_bound"],
                   peak_H_rule=g["rule"], growth_from_na=g["from_na"])
    return row


def sections_opened(steps) -> list[dict[str, Any]]:
    """Narrow-first fills of connected pores: the Na count at which each section became the open one
    (``[{"n_na", "spacing_nm"}]``, narrowest first; ``spacing_nm`` None once the whole pore competes);
    ``[]`` for fills without a fill order."""
    out: list[dict[str, Any]] = []
    for st in steps:
        fo = st.get("fill_order")
        if not fo:
            continue
        spacing = fo.get("spacing_nm")
        if not out or out[-1]["spacing_nm"] != spacing:
            out.append({"n_na": int(st["n_na"]), "spacing_nm": spacing})
    return out


def _num(x, fmt=".2f", unit=""):
    return "-" if x is None else f"{x:{fmt}}{unit}"


def _claim(claim, published, computed, agrees, rule) -> dict[str, Any]:
    return {"claim": claim, "published": published, "computed": computed,
            "agrees": None if agrees is None else bool(agrees), "rule": rule}


def _found_note(row) -> str:
    """`` (cavity found by step 1: 1.79 nm, 6 layers)`` when the row is not at the published size."""
    if row.get("layers") and abs(row["size_nm"] - (row.get("published_size_nm") or row["size_nm"])) > 1e-9:
        return f" (cavity from step 1: {row['size_nm']:g} nm, {row['layers']} layers)"
    return ""


def _capacity_agrees(na: int, at_least: bool, target: float, tol: float) -> bool | None:
    if at_least:
        return False if na > target + tol else None
    return abs(na - target) <= tol


def claims(tables: dict[str, Any]) -> list[dict[str, Any]]:
    """The claims table from :func:`study_tables`' output (see the module docstring)."""
    out = []
    # -- spacings
    spacing = {int(r["layers"]): r["spacing_nm"] for r in tables.get("spacing", [])}
    for k, pub in PUBLISHED["spacings_nm"].items():
        c = spacing.get(k)
        out.append(_claim(f"relaxed spacing with {k} Na layers", f"{pub:.2f} nm", _num(c, ".3f", " nm"),
                          None if c is None else abs(c - pub) <= SPACING_TOL_NM,
                          f"|computed - published| <= {SPACING_TOL_NM} nm"))
    # cavities by the published size they stand for (cavities from step 1: by their layer count)
    cav = {round(r.get("published_size_nm") or r["size_nm"], 3): r for r in tables.get("cavities", []) if r.get("profile")}
    c182 = cav.get(1.82)
    # -- capacities of the 1.82 nm cavity
    theo = c182["profile"]["capacity"]["theoretical_na"] if c182 else None
    out.append(_claim("1.82 nm cavity: theoretical capacity", "34 Na",
                      _num(theo, "d", " Na") + (_found_note(c182) if theo is not None else ""),
                      None if theo is None else abs(theo - 34) <= CAPACITY_TOL_NA,
                      f"Na at bcc density in the pore volume, within {CAPACITY_TOL_NA} Na"))
    if c182:
        cp = c182["profile"]["capacity"]
        text = f"{'at least ' if cp['practical_study_at_least'] else ''}{cp['practical_study_na']} Na"
        if cp["practical_study_at_least"]:
            text += f" ({cp['study_reason']})"
        text += _found_note(c182)
        ag = _capacity_agrees(cp["practical_study_na"], cp["practical_study_at_least"], 16, CAPACITY_TOL_NA)
    else:
        text, ag = "-", None
    out.append(_claim("1.82 nm cavity: practical capacity (H rises sharply after it)", "16 Na", text, ag,
                      f"study reading of the practical capacity, within {CAPACITY_TOL_NA} Na "
                      "(a lower bound below 16 is undecided)"))
    for size, pub in PUBLISHED["mAh_g"].items():
        r = cav.get(size)
        if r:
            cp = r["profile"]["capacity"]
            q = cp["practical_study_mAh_g"]
            text = (f"{'at least ' if cp['practical_study_at_least'] else ''}{q:.0f} mAh/g ({r['profile']['assumption']})"
                    + _found_note(r))
            ag = _capacity_agrees(q, cp["practical_study_at_least"], pub, MAH_G_TOL * pub)
        else:
            text, ag = "-", None
        out.append(_claim(f"{size:g} nm cavity: practical gravimetric capacity", f"{pub:.0f} mAh/g", text, ag,
                          f"study reading x v F / (3.6 M_C), within {MAH_G_TOL:.0%}"))
    # -- nucleation barriers
    rows = [r for r in tables.get("cavities", []) if r.get("profile")]
    with_b = [r["size_nm"] for r in rows if r["profile"]["nucleation"]["status"] == "barrier"]
    without = [r["size_nm"] for r in rows if r["profile"]["nucleation"]["status"] != "barrier"]
    out.append(_claim("a nucleation barrier in every cavity", "yes, all cavities 0.82-2.18 nm",
                      f"barrier in {len(with_b)} of {len(rows)} cavities" + (
                          f" (none at {', '.join(f'{s:g}' for s in without)} nm)" if without else ""),
                      None if not rows else not without,
                      "nucleation status 'barrier' (H rises, then falls by > 0.05 eV) for every cavity"))
    ori = [r for r in tables.get("orifices", []) if r.get("profile")]
    ori_b = [r["size_nm"] for r in ori if r["profile"]["nucleation"]["status"] == "barrier"]
    out.append(_claim("no nucleation barrier below 0.82 nm (orifices)", "none",
                      "-" if not ori else (f"barrier at {', '.join(f'{s:g}' for s in ori_b)} nm" if ori_b else
                                           f"none in {len(ori)} orifice(s)"),
                      None if not ori else not ori_b, "no orifice fill has nucleation status 'barrier'"))
    fit = tables.get("barrier_fit")
    out.append(_claim("the barrier grows roughly as d^2", "dG* ~ d^2",
                      "-" if not fit else f"a = {fit['a_eV_nm2']:.3f} eV/nm^2, R^2 = {fit['r2']:.2f} "
                                          f"({fit['n_points']} cavities)",
                      None if not fit or fit["n_points"] < 3 else (fit["a_eV_nm2"] > 0 and fit["r2"] >= D2_R2_MIN),
                      f"fit barrier = a d^2 over >= 3 cavities with a barrier: a > 0 and R^2 >= {D2_R2_MIN}"))
    # -- orifices
    lo, hi = PUBLISHED["orifice_favourable_nm"]
    inside = [r for r in ori if lo - 1e-9 <= r["size_nm"] <= hi + 1e-9 and r["profile"]["H_eV"]]
    fav = [r["size_nm"] for r in inside if r["profile"]["H_eV"][0] < 0]
    unfav = [r["size_nm"] for r in inside if r["profile"]["H_eV"][0] >= 0]
    out.append(_claim("orifice intercalation favourable (H < 0)", f"{lo:g}-{hi:g} nm",
                      "-" if not inside else (f"H(1) < 0 at {', '.join(f'{s:g}' for s in fav) or 'none'}"
                                              + (f"; H(1) >= 0 at {', '.join(f'{s:g}' for s in unfav)}" if unfav else "")
                                              + " nm"),
                      None if not inside else not unfav,
                      f"H(1) < 0 for every computed orifice spacing in {lo:g}-{hi:g} nm"))
    # -- connected pores
    conn = {tuple(r["sizes_nm"]): r for r in tables.get("connected", [])}
    for pair, negative in PUBLISHED["connected_negative"].items():
        r = conn.get(pair)
        con = (r or {}).get("connected") or {}
        peak = con.get("peak_H_eV")
        decided = con.get("peak_H_decided", True)
        iso = isolated_barrier_text(r.get("isolated") if r else None)
        sign = "negative" if peak is not None and peak < 0 else "positive"
        text = "-" if peak is None else (
            f"peak H {'>= ' if con.get('peak_H_lower_bound') else ''}{peak:+.2f} eV "
            f"({sign if decided else 'undecided: no nucleation in the wide part within the run'})"
            + (f", wide part from Na {con['growth_from_na']}" if con.get("growth_from_na") else "")
            + f"; isolated cavity: {iso}")
        label = "+".join(f"{x:g}" for x in pair)
        out.append(_claim(f"pre-nucleation, {label} nm: barrier turns negative", "yes" if negative else "no", text,
                          None if peak is None or not decided else (peak < 0) == negative,
                          con.get("peak_H_rule") or MINIMUM_RULE))
    # -- diffusion barriers
    neb = {round(r["spacing_nm"], 3): r for r in tables.get("neb", [])}
    for s, pub in PUBLISHED["neb_eV"].items():
        r = neb.get(round(s, 3))
        rule = (f"computed < {NEGLIGIBLE_EV} eV" if pub == 0 else
                f"|computed - published| <= max({NEB_TOL_EV} eV, {NEB_TOL_REL:.0%})")
        if r is None or r.get("barrier_eV") is None:  # not run, or not finished (a partial study)
            out.append(_claim(f"Na diffusion barrier at {s:.2f} nm", "negligible" if pub == 0 else f"{pub:.2f} eV", "-",
                              None, rule))
            continue
        b = r["barrier_eV"]
        note = "" if r.get("climbed") else " (climbing image did not climb)"
        if pub == 0:
            out.append(_claim(f"Na diffusion barrier at {s:.2f} nm", "negligible", f"{b:.3f} eV{note}",
                              b < NEGLIGIBLE_EV, rule))
        else:
            out.append(_claim(f"Na diffusion barrier at {s:.2f} nm", f"{pub:.2f} eV", f"{b:.3f} eV{note}",
                              abs(b - pub) <= max(NEB_TOL_EV, NEB_TOL_REL * pub), rule))
    # -- Bader valence
    val = [(r["size_nm"], r["profile"]["bader_valence_mean"]) for r in rows
           if r["profile"].get("bader_valence_mean") is not None]
    if len(val) >= 2:
        d, v = np.array(val).T
        rho = float(np.corrcoef(np.argsort(np.argsort(d)), np.argsort(np.argsort(v)))[0, 1])
        text, ag = "; ".join(f"{a:g} nm: {b:.2f}" for a, b in val) + f" (rank correlation {rho:+.2f})", rho < 0
    else:
        text, ag = "no Bader charges from this backend", None
    out.append(_claim("average Bader valence of the stored Na falls as the cavity grows", "falls", text, ag,
                      "Spearman rank correlation of valence with size < 0 (needs Bader charges)"))
    return out


def barrier_fit(cavity_rows) -> dict[str, Any] | None:
    """barrier = a d^2 over the cavities that have a barrier (None with fewer than one)."""
    pts = [(r["size_nm"], r["profile"]["nucleation"]["barrier_eV"]) for r in cavity_rows
           if r.get("profile") and r["profile"]["nucleation"]["status"] == "barrier"]
    if not pts:
        return None
    d, b = zip(*pts)
    return fit_barrier_vs_size(d, b).as_dict()
