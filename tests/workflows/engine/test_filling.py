"""The filling engine: bookkeeping, physics sanity, determinism, resume after kill, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nafill.errors import NafillInputError, NafillRunError
from nafill.structures.geometry import between_walls, guest_indices, host_indices, min_distances
from nafill.structures.pores import cavity
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.documents import RelaxResult
from nafill.workflows.engine.loop import fill, start_path
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.steps import check_kept_structure, plan_step
from nafill.workflows.engine.store import load_path
from nafill.workflows.studies.study import fill_cost

@pytest.fixture(scope="module")
def fill_119(tmp_path_factory):
    out = tmp_path_factory.mktemp("fill119")
    path = fill(cavity(1.19), get_backend("emt"), FillingPolicy(max_na=12), out_dir=out)
    return path, out


def test_path_json_schema_and_files(fill_119):
    path, out = fill_119
    doc = json.loads((out / "path.json").read_text())
    for key in ("host", "backend", "policy", "reference", "steps", "summary"):
        assert key in doc
    assert {"mu_na_eV", "e_host_eV"} <= set(doc["reference"])
    for s in doc["steps"]:
        for key in ("n_na", "energy_eV", "formation_enthalpy_eV", "step_voltage_V", "n_candidates",
                    "n_relaxed", "wall_s"):
            assert key in s
    assert [s["n_na"] for s in doc["steps"]] == list(range(1, 13))
    from ase.io import read

    frames = read(out / "path.extxyz", index=":")
    assert len(frames) == 12
    assert [f.info["n_na"] for f in frames] == list(range(1, 13))
    assert frames[-1].info["energy_eV"] == pytest.approx(doc["steps"][-1]["energy_eV"], abs=1e-6)
    assert frames[-1].get_chemical_symbols().count("Na") == 12


def test_enthalpy_bookkeeping(fill_119):
    path, _ = fill_119
    ref = path.reference
    e = np.array([s["energy_eV"] for s in path.steps])
    h = np.array([s["formation_enthalpy_eV"] for s in path.steps])
    v = np.array([s["step_voltage_V"] for s in path.steps])
    n = np.arange(1, 13)
    assert np.allclose(h, e - ref["e_host_eV"] - n * ref["mu_na_eV"], atol=1e-12)
    # step energies telescope: H(x) = -sum of step voltages up to x
    assert np.allclose(h, -np.cumsum(v), atol=1e-9)
    assert path.steps[0]["formation_enthalpy_eV"] > 0  # one Na on a wall: above Na metal


def test_kept_na_between_walls_and_away_from_carbon(fill_119):
    path, _ = fill_119
    for rec in path.step_records():
        a = rec.atoms()
        na = guest_indices(a)
        assert len(na) == rec.n_na
        assert between_walls(a, a.positions[na]).all()
        assert min_distances(a, a.positions[na], host_indices(a)).min() >= 2.0
        # carbon stayed frozen at the host positions
        assert np.allclose(a.positions[host_indices(a)], path.host_atoms().positions, atol=1e-12)


def test_summary_and_counts(fill_119):
    path, _ = fill_119
    sm = path.summary
    assert sm["n_steps"] == 12 and sm["finished"]
    assert sm["theoretical_capacity_na"] == 22
    # 4 pre-screened candidates per step, plus 2 perturbed ones while the pore holds 2..6 Na and
    # at most 2 x 4 nucleation moves (isolated Na gathered onto a seed) at 3..12 Na
    assert sm["n_relaxations"] <= 4 * 12 + 2 * 5 + 8 * 10
    assert all(s["n_relaxed"] <= (4 + 2 * (2 <= s["n_na"] <= 6) + 8 * (3 <= s["n_na"] <= 12)) for s in path.steps)
    assert any(s["n_relaxed"] > 6 for s in path.steps)  # the moves ran
    assert any(s["n_relaxed"] > 4 for s in path.steps if s["n_na"] > 6)  # and past refine_max_na
    assert sum(s["site_kind"] == "perturbed" for s in path.steps) <= 5


def test_the_surrogate_searches_at_every_step_the_others_to_their_limits(emt_twin):
    """A ``surrogate`` fill makes its perturbation and nucleation moves at every step (as a screen's
    cheap level does); ``emt`` and a generic calculator stop them at ``refine_max_na`` and
    ``coalesce_max_na``; the study's cost bound follows the same rule."""
    policy = dict(max_na=6, refine_max_na=3, coalesce_max_na=4)
    bounded = [fill(cavity(1.05), get_backend(name), FillingPolicy(**policy), use_cache=False)
               for name in ("emt", emt_twin)]
    wide = fill(cavity(1.05), get_backend("surrogate"), FillingPolicy(**policy), use_cache=False)
    bound = [4 + 2 * (2 <= n <= 3) + 8 * (3 <= n <= 4) for n in range(1, 7)]
    for path in bounded:
        assert all(s["n_relaxed"] <= b for s, b in zip(path.steps, bound))
        assert [s["n_relaxed"] for s in path.steps][4:] == [4, 4]
    assert [s["energy_eV"] for s in bounded[0].steps] == pytest.approx([s["energy_eV"] for s in bounded[1].steps])
    assert all(s["n_relaxed"] >= 6 for s in wide.steps[4:])
    assert fill_cost(FillingPolicy(**policy), 6, "surrogate")[0] > fill_cost(FillingPolicy(**policy), 6, "emt")[0]
    assert wide.summary["n_relaxations"] <= fill_cost(FillingPolicy(**policy), 6, "surrogate")[0]
    assert fill_cost(FillingPolicy(**policy), 6, "emt") == fill_cost(FillingPolicy(**policy), 6, emt_twin)


def test_same_seed_same_path_bitwise(tmp_path):
    kw = dict(max_na=5)
    p1 = fill(cavity(1.05), get_backend("emt"), FillingPolicy(**kw))
    p2 = fill(cavity(1.05), get_backend("emt"), FillingPolicy(**kw))
    assert [s["energy_eV"] for s in p1.steps] == [s["energy_eV"] for s in p2.steps]
    p3 = fill(cavity(1.05), get_backend("emt"), FillingPolicy(seed=1, **kw))
    assert [s["n_candidates"] for s in p3.steps][0] == 1


def test_parallel_workers_same_path():
    p1 = fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=4))
    p2 = fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=4, workers=2))
    assert [s["energy_eV"] for s in p1.steps] == [s["energy_eV"] for s in p2.steps]


def test_beam_search_keeps_sorted_beam():
    p = fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=4, beam_width=3))
    for s in p.steps[1:]:
        assert 1 <= len(s["beam_energies_eV"]) <= 3
        assert s["beam_energies_eV"] == sorted(s["beam_energies_eV"])
        assert s["energy_eV"] == s["beam_energies_eV"][0]
    assert len(p.state["beam"]) == len(p.steps[-1]["beam_energies_eV"])


def _cli(out, max_na):
    return [sys.executable, "-m", "nafill.cli", "fill", "--spacing-nm", "1.19", "--calculator", "emt",
            "--max-na", str(max_na), "--out", str(out), "-q"]


def test_resume_after_kill_gives_same_path(tmp_path, monkeypatch, kill_when):
    monkeypatch.setenv("NAFILL_FLUSH_INTERVAL_S", "0")
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_cli(ref_dir, 8), check=True, capture_output=True)
    ref = load_path(ref_dir)

    def n_done() -> int:
        try:
            return len(json.loads((run_dir / "path.json").read_text())["steps"])
        except (OSError, ValueError, KeyError):
            return 0

    kill_when(_cli(run_dir, 8), lambda: n_done() >= 3, 120)
    partial = load_path(run_dir)  # never corrupted by the kill
    assert 3 <= len(partial.steps) < 8, "the kill should land mid-run"
    done = subprocess.run(_cli(run_dir, 8), check=True, capture_output=True, text=True)
    assert "reached max_na = 8" in done.stdout
    resumed = load_path(run_dir)
    assert [s["n_na"] for s in resumed.steps] == list(range(1, 9))  # no duplicate, none missing
    assert [s["energy_eV"] for s in resumed.steps] == [s["energy_eV"] for s in ref.steps]


def test_different_run_in_same_folder_refused_and_kept(tmp_path):
    out = tmp_path / "run"
    fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=2), out_dir=out)
    before = (out / "path.json").read_bytes()
    with pytest.raises(NafillInputError, match="holds a different run.*policy.fmax_eV_A"):
        fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=2, fmax_eV_A=0.02), out_dir=out)
    assert (out / "path.json").read_bytes() == before
    # extending max_na resumes the same run
    p = fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=3), out_dir=out)
    assert len(p.steps) == 3


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"n_candidates": -1}, r"n_candidates = -1 is outside the allowed range \[1, 10000\]"),
        ({"fmax_eV_A": 0.0}, r"fmax_eV_A = 0 eV/A is outside the allowed range \(0, 10\]"),
        ({"fmax_eV_A": -0.1}, "fmax_eV_A"),
        ({"max_na": 23}, r"max_na = 23 is outside the allowed range \[1, 22\]"),
        ({"max_na": 0}, "max_na = 0"),
        ({"beam_width": 0}, "beam_width = 0"),
        ({"prescreen": -2}, "prescreen = -2"),
    ],
)
def test_bad_policy_refused_before_any_calculation(tmp_path, kwargs, needle):
    cache = tmp_path / "cache"
    os.environ["NAFILL_CACHE_DIR"], old = str(cache), os.environ["NAFILL_CACHE_DIR"]
    try:
        with pytest.raises(NafillInputError, match=needle):
            fill(cavity(1.19), get_backend("emt"), FillingPolicy(**kwargs), out_dir=tmp_path / "out")
    finally:
        os.environ["NAFILL_CACHE_DIR"] = old
    assert not (tmp_path / "out").exists()
    assert not (cache / "references").exists()


def test_cli_bad_input_one_line(tmp_path, capsys):
    from nafill.cli import main

    bad = tmp_path / "host.vasp"
    bad.write_text("garbage\n1.0\n")
    assert main(["fill", "--host", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read structure file" in capsys.readouterr().err
    assert main(["fill", "--spacing-nm", "1.82", "--max-na", "99", "--out", str(tmp_path / "o")]) == 2
    assert "--max-na = 99 is outside the allowed range [1, 36]" in capsys.readouterr().err
    assert main(["fill", "--spacing-nm", "1.82", "--calculator", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


class FailingBackend:
    """Wraps the emt backend; every relaxation of step ``fail_at`` fails."""

    def __init__(self, fail_at, fail_only=None):
        self.inner = get_backend("emt")
        self.fail_at = fail_at
        self.fail_only = fail_only
        self.name = "emt"

    def __getattr__(self, item):
        return getattr(self.inner, item)

    def relax_many(self, structures, fmax, steps, workers=1, initial_hessians=None):
        out = []
        for k, a in enumerate(structures):
            n = len(guest_indices(a))
            if n == self.fail_at and (self.fail_only is None or k == self.fail_only):
                out.append(RelaxResult.failed("emt", {}, "injected backend error"))
            else:
                out.append(self.inner.relax(a, fmax, steps))
        return out


def test_failed_candidate_recorded_and_step_proceeds():
    p = fill(cavity(1.05), FailingBackend(fail_at=3, fail_only=0), FillingPolicy(max_na=4))
    s3 = p.steps[2]
    assert s3["n_failed"] == 1 and "injected backend error" in s3["failures"][0]
    assert s3["candidate_energies_eV"][0] is None
    assert len(p.steps) == 4


def test_all_candidates_failing_stops_cleanly(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(NafillRunError, match="all 6 candidates of step 3 failed; the path is kept up to 2 Na"):
        fill(cavity(1.05), FailingBackend(fail_at=3), FillingPolicy(max_na=5), out_dir=out)
    kept = load_path(out)
    assert len(kept.steps) == 2 and not kept.state["finished"]
    # the same command with a working backend resumes from there
    p = fill(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=5), out_dir=out)
    assert [s["n_na"] for s in p.steps] == [1, 2, 3, 4, 5]


def test_plan_is_json_round_trippable():
    from nafill.workflows.engine.steps import StepPlan

    path = start_path(cavity(1.05), get_backend("emt"), FillingPolicy(max_na=3))
    plan = plan_step(path, get_backend("emt"))
    again = StepPlan.from_dict(json.loads(json.dumps(plan.as_dict())))
    assert again == plan
    assert plan.n_candidates == 1 and plan.n_proposed == 32


def test_references_cached(tmp_path):
    from nafill.workflows.engine.references import references

    os.environ["NAFILL_CACHE_DIR"], old = str(tmp_path), os.environ["NAFILL_CACHE_DIR"]
    try:
        b = get_backend("emt")
        r1 = references(b, cavity(1.19))
        files = sorted(p.name for p in (tmp_path / "references").iterdir())
        assert len(files) == 2
        r2 = references(b, cavity(1.19))
        assert r1 == r2
        assert r1["bcc_lattice_A"] == pytest.approx(4.2, abs=0.01)
    finally:
        os.environ["NAFILL_CACHE_DIR"] = old


def test_full_pore_is_a_normal_stop(tmp_path):
    from nafill.structures.pores import orifice

    # with Na kept 4.9 A apart a 4x4 orifice holds only a few Na: the fill stops cleanly there
    path = fill(orifice(0.45), get_backend("emt"), FillingPolicy(min_na_distance_A=4.9), out_dir=tmp_path / "o")
    assert path.state["finished"]
    assert path.state["stop_reason"].startswith("no candidate site left for Na number")
    n = len(path.steps)
    assert 1 <= n < path.reference["theoretical_capacity_na"]
    assert load_path(tmp_path / "o").summary["stop_reason"] == path.state["stop_reason"]


class ExpellingBackend(FailingBackend):
    """Relaxes normally, except that at ``fail_at`` Na every relaxation ends with the first Na
    pushed out of the pore (far above the upper wall), as in an overfull pore."""

    def relax_many(self, structures, fmax, steps, workers=1, initial_hessians=None):
        out = []
        for a in structures:
            r = self.inner.relax(a, fmax, steps)
            if len(guest_indices(a)) == self.fail_at:
                b = r.atoms()
                b.positions[guest_indices(b)[0], 2] = b.positions[:, 2].max() + 5.0
                r = RelaxResult.from_atoms(b, r.energy_eV, r.max_force_eV_A, r.n_ionic_steps, True, "emt", {}, 0.0)
            out.append(r)
        return out


def test_every_candidate_pushing_a_na_out_ends_the_fill_as_full(tmp_path):
    """An overfull pore (every candidate of a step expels a Na) is a normal end, not a failure."""
    out = tmp_path / "run"
    p = fill(cavity(1.05), ExpellingBackend(fail_at=3), FillingPolicy(max_na=5), out_dir=out)
    assert len(p.steps) == 2 and p.state["finished"]
    assert "every candidate for Na number 3 pushed a Na out of the pore on relaxing: the pore is full at 2 Na" in p.state["stop_reason"]
    assert load_path(out).state["finished"]


def test_kept_structure_check_says_whether_a_na_was_expelled_or_squeezed():
    from ase import Atom

    host = cavity(1.05)
    inside = host.copy()
    inside.append(Atom("Na", host.positions[:, :2].mean(axis=0).tolist() + [host.positions[:, 2].mean()]))
    assert check_kept_structure(inside) is None
    out = inside.copy()
    out.positions[-1, 2] = host.positions[:, 2].max() + 5.0
    why = check_kept_structure(out)
    assert why.expelled and "left the pore" in str(why)
    close = inside.copy()
    close.positions[-1] = host.positions[host.positions[:, 2].argmin()] + [0.0, 0.0, 1.0]
    why = check_kept_structure(close)
    assert not why.expelled and str(why).startswith("a Na is 1.00 A from the host")
