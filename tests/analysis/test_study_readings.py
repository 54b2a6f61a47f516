"""Capacity readings (strict and the study's), lower bounds at the cap, the claims table rules."""

import numpy as np
import pytest

from nafill.analysis.capacity import PUBLISHED_VALENCE, capacity_report, gravimetric_capacity_mAh_g
from nafill.analysis.claims import claims, isolated_barrier_text, peak_before_minimum
from nafill.analysis.profile import (
    format_capacity,
    strict_practical_capacity,
    study_practical_capacity,
)
from nafill.structures.pores import cavity
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.summary import stop_reason, summarize
from tests.analysis.test_analysis import synthetic_path

ML_182 = [0.10, 0.21, 0.51, 0.81, 1.25, 1.57, 1.77, 1.93, 1.97, 2.00, 1.89, 1.92, 1.81, 1.74, 1.91]
"""SevenNet-0, 1.82 nm cavity, naive search (science.md)."""


def test_ml_profile_both_readings():
    strict = strict_practical_capacity(ML_182)
    assert strict.na == 0 and not strict.at_least  # H > 0 everywhere
    study = study_practical_capacity(ML_182)
    # nucleation at 11 (after the 2.00 eV top at 10); no step after it rises by > 0.25 eV
    assert study.na == 15 and study.at_least
    assert "ends at 15" in study.reason
    # a stricter threshold sees the 0.17 eV rise from 14 to 15: capacity 14, decided
    tight = study_practical_capacity(ML_182, sharp_rise_V=0.15)
    assert tight.na == 14 and not tight.at_least
    # the rises of the barrier (up to 0.44 eV per Na before nucleation) are never the capacity
    early = study_practical_capacity(ML_182[:10], cap=10)  # not nucleated yet when the cap stopped it
    assert early.at_least and not early.nucleated


def test_study_reading_synthetic_profiles():
    # falls (barrierless), then a sharp rise after 6 Na
    h = [-0.3, -0.7, -1.1, -1.4, -1.6, -1.7, -1.0, -0.2]
    r = study_practical_capacity(h)
    assert (r.na, r.at_least) == (6, False) and "6 to 7" in r.reason
    assert strict_practical_capacity(h).na == 6
    # a barrier of 1 eV at 4 Na, a valley, a sharp rise after 9: the barrier's rises do not count
    h = [0.3, 0.6, 0.9, 1.0, 0.8, 0.5, 0.2, 0.0, -0.1, 0.4, 0.9]
    assert study_practical_capacity(h).na == 9
    # never nucleates and rises sharply from the start: nothing stored
    assert study_practical_capacity([0.5, 1.0, 1.6]).na == 0
    # rises gently, never falls: a lower bound at the end of the path, flagged as the cap
    r = study_practical_capacity([0.1, 0.2, 0.3], cap=3)
    assert r.at_least and r.text() == "at least 3 Na (run stopped by the cap)"
    # a pore full for the site rules is a real capacity, not a cap
    r = study_practical_capacity([-0.5, -1.0], finished_reason="no candidate site left: the pore is full")
    assert (r.na, r.at_least) == (2, False)
    # the strict reading at the cap is a lower bound too
    s = strict_practical_capacity([-0.5, -1.0, -1.5], cap=3)
    assert s.at_least and format_capacity(s.na, s.at_least, s.reason).startswith("at least 3 Na")


def test_summary_and_capacity_report_carry_both_readings():
    h = [-0.3, -0.7, -1.1, -1.4, -1.6, -1.7, -1.0, -0.2]
    path = synthetic_path(h)
    path.policy = {"max_na": 8}
    sm = summarize(path)
    assert sm["practical_capacity_na"] == 6 and sm["practical_capacity_study_na"] == 6
    assert sm["practical_capacity_study"]["rule"].startswith("last x before the first sharp rise")
    rep = capacity_report(path, default_valence=PUBLISHED_VALENCE)
    assert rep.valence_source == "assumed" and rep.valence == pytest.approx(0.90)
    assert "assumed valence 0.90 e/Na" in rep.assumption
    assert rep.practical_study_mAh_g == pytest.approx(gravimetric_capacity_mAh_g(6, rep.host_mass_g_mol, 0.9))
    # the published 501 mAh/g for 16 Na over 64 C implies 0.90 e/Na
    assert gravimetric_capacity_mAh_g(16, 64 * 12.011, PUBLISHED_VALENCE) == pytest.approx(501, rel=0.01)


def test_sharp_rise_stop_rule_stops_after_the_margin():
    policy = FillingPolicy(stop_sharp_rise_V=0.25, stop_margin=2).as_dict()
    h = [-0.3, -0.7, -1.1, -1.4, -1.0]  # sharp rise from 4 to 5
    path = synthetic_path(h)
    path.policy = policy
    assert stop_reason(path) is None  # one step past the capacity, margin 2
    path = synthetic_path(h + [-0.6, -0.1])
    path.policy = policy
    assert "practical limit reached" in stop_reason(path)
    # the barrier of the ML profile never triggers it
    path = synthetic_path(ML_182)
    path.policy = policy
    assert stop_reason(path) is None
    # the new fields do not change a fill's identity (path-determining fields only)
    assert "stop_sharp_rise_V" not in FillingPolicy(stop_sharp_rise_V=0.3).physical()


def test_peak_before_minimum_and_claim_rules():
    assert peak_before_minimum([-0.2, -0.5, -0.3, -0.9, 0.4]) == pytest.approx(-0.2)
    assert peak_before_minimum([0.35, -1.0, -2.0]) == pytest.approx(0.35)
    prof = lambda h, cap: {"n_na": list(range(1, len(h) + 1)), "H_eV": h, "peak_H_eV": peak_before_minimum(h),  # noqa: E731
                           "nucleation": {"status": "barrier", "barrier_eV": 1.0, "critical_size": 2},
                           "capacity": cap, "assumption": "assumed valence 0.90 e/Na", "bader_valence_mean": None}
    cap = {"theoretical_na": 36, "practical_study_na": 16, "practical_study_at_least": False, "study_reason": "",
           "practical_study_mAh_g": 502.0}
    tables = {"spacing": [{"layers": 6, "spacing_nm": 1.80}, {"layers": 7, "spacing_nm": 2.5}],
              "cavities": [{"size_nm": 1.82, "profile": prof([0.1, 1.0, 0.5], cap)}],
              "orifices": [{"size_nm": 0.45, "profile": prof([-0.4], cap)}],
              "connected": [{"sizes_nm": [0.5, 1.82], "connected": {"peak_H_eV": 0.3}, "isolated": prof([0.1, 1.0, 0.5], cap)}],
              "neb": [{"spacing_nm": 0.40, "barrier_eV": 0.50, "climbed": True},
                      {"spacing_nm": 0.50, "barrier_eV": 0.2, "climbed": True}],
              "barrier_fit": None}
    by = {c["claim"]: c for c in claims(tables)}
    for c in by.values():
        assert set(c) == {"claim", "published", "computed", "agrees", "rule"}
    assert by["relaxed spacing with 6 Na layers"]["agrees"] is True
    assert by["relaxed spacing with 7 Na layers"]["agrees"] is False
    assert by["relaxed spacing with 2 Na layers"]["agrees"] is None  # not computed
    assert by["1.82 nm cavity: practical capacity (H rises sharply after it)"]["agrees"] is True
    assert by["1.82 nm cavity: practical gravimetric capacity"]["agrees"] is True
    assert by["pre-nucleation, 0.5+1.82 nm: barrier turns negative"]["agrees"] is True  # positive, as published
    # the isolated counterpart is quoted by its nucleation barrier, not by H(1) (its minimum-rule peak)
    assert by["pre-nucleation, 0.5+1.82 nm: barrier turns negative"]["computed"].endswith(
        "isolated cavity: barrier +1.00 eV at n* = 2")
    assert isolated_barrier_text(prof([0.1, 0.2], cap) | {"nucleation": {"status": "rising"}}) == \
        "no barrier (rising), highest H +0.20 eV"
    assert by["Na diffusion barrier at 0.40 nm"]["agrees"] is True
    assert by["Na diffusion barrier at 0.50 nm"]["agrees"] is False  # 0.2 eV is not negligible
    # a lower bound below the published value is undecided, above it disagrees
    cap.update(practical_study_na=8, practical_study_at_least=True)
    by = {c["claim"]: c for c in claims(tables)}
    assert by["1.82 nm cavity: practical capacity (H rises sharply after it)"]["agrees"] is None
    cap.update(practical_study_na=25)
    by = {c["claim"]: c for c in claims(tables)}
    assert by["1.82 nm cavity: practical capacity (H rises sharply after it)"]["agrees"] is False
    assert np.isfinite(cavity(1.82).positions).all()


def test_sections_opened_and_connected_figure():
    from nafill.analysis.claims import sections_opened
    from nafill.analysis.study_figures import fig_connected

    steps = [{"n_na": 1, "fill_order": {"spacing_nm": 0.5}}, {"n_na": 2, "fill_order": {"spacing_nm": 0.5}},
             {"n_na": 3, "fill_order": {"spacing_nm": 1.2}}, {"n_na": 4, "fill_order": {"spacing_nm": None}}]
    assert sections_opened(steps) == [{"n_na": 1, "spacing_nm": 0.5}, {"n_na": 3, "spacing_nm": 1.2},
                                      {"n_na": 4, "spacing_nm": None}]
    assert sections_opened([{"n_na": 1}]) == []
    prof = {"n_na": [1, 2, 3, 4], "H_eV": [-0.2, -0.4, -0.1, -0.5], "peak_H_eV": -0.1,
            "sections_opened": sections_opened(steps)}
    png = fig_connected([{"sizes_nm": [0.5, 1.2], "connected": prof, "isolated": None, "published_negative": True}])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_claims_of_a_partial_study_with_an_unfinished_neb():
    # a study stopped before its NEB ran: the row exists without a barrier; the claim is "not computed"
    tables = {"neb": [{"spacing_nm": 0.40, "state": "READY", "barrier_eV": None, "published_eV": 0.55}]}
    row = next(c for c in claims(tables) if c["claim"] == "Na diffusion barrier at 0.40 nm")
    assert row["computed"] == "-" and row["agrees"] is None and row["rule"]


def test_growth_peak_of_narrow_first_fills():
    from nafill.analysis.claims import GROWTH_RULE, MINIMUM_RULE, growth_peak

    opened = [{"n_na": 1, "spacing_nm": 0.5}, {"n_na": 4, "spacing_nm": 1.82}]
    n = [1, 2, 3, 4, 5, 6, 7]
    # the orifice takes 3 Na (H falls), the cavity then climbs to +0.4 and nucleates: positive, decided
    g = growth_peak([-0.2, -0.4, -0.6, -0.3, 0.1, 0.4, 0.2], n, opened)
    assert g["peak_H_eV"] == pytest.approx(0.4) and g["decided"] and not g["lower_bound"] and g["from_na"] == 4
    # the same growth staying below 0 until it nucleates: negative (the deepest point before it is ignored)
    g = growth_peak([-0.2, -0.4, -0.6, -0.5, -0.3, -0.2, -0.6], n, opened)
    assert g["peak_H_eV"] == pytest.approx(-0.2) and g["decided"] and g["rule"] == GROWTH_RULE
    # no nucleation yet: a lower bound; above 0 it decides "positive", below 0 nothing
    assert growth_peak([-0.2, -0.4, -0.6, -0.3, 0.1, 0.4, 0.5], n, opened)["decided"] is True
    g = growth_peak([-0.2, -0.4, -0.6, -0.5, -0.45, -0.4, -0.35], n, opened)
    assert g["lower_bound"] and not g["decided"]
    # the narrow part never filled: undecided; an energy-order fill: the old reading
    assert not growth_peak([-0.2, -0.4], [1, 2], opened[:1])["decided"]
    assert growth_peak([0.3, -0.5, -0.2], [1, 2, 3], [])["rule"] == MINIMUM_RULE
