"""The fidelity ladder: defaults, the run-learned correction, cost accounting, the adaptive rule."""

import numpy as np
import pytest

from nafill.errors import NafillInputError
from nafill.structures.pores import cavity
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.ladder import Correction, default_screen, diverse_order, resolve_screen
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.policy import FillingPolicy

def test_default_screens_follow_the_cost_of_the_backend():
    assert default_screen("mlip") == "surrogate"
    assert default_screen("vasp") in ("mlip", "surrogate")
    assert default_screen("surrogate") is None and default_screen("emt") is None
    assert resolve_screen("auto", "mlip") == "surrogate"
    assert resolve_screen("none", "mlip") is None
    assert resolve_screen("emt", "emt") is None  # screening a backend with itself screens nothing
    assert FillingPolicy().validate(None, "mlip").screen_calculator == "surrogate"
    with pytest.raises(NafillInputError, match="screen_max = 1"):
        FillingPolicy(screen_keep=2, screen_max=1).validate()
    with pytest.raises(NafillInputError, match="calculator = 'nope'"):
        FillingPolicy(screen_calculator="nope").validate()


def test_correction_recovers_a_linear_map_and_stays_put_on_few_pairs():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 12, 40)
    c = rng.normal(0, 2, 40)
    e = 0.3 + 0.8 * c + 0.05 * x
    fit = Correction.fit(np.column_stack([x, c, e]).tolist(), ridge=1e-6)
    assert (fit.a, fit.b, fit.c) == pytest.approx((0.3, 0.8, 0.05), abs=1e-4)
    two = Correction.fit([[1, 0.0, 0.5], [2, 1.0, 1.7]])
    assert two.b == 1.0 and two.a == pytest.approx(0.6)  # a mean offset only
    assert Correction.fit([]).predict(1.5, 3) == 1.5


def test_ladder_with_an_exact_cheap_level_costs_one_expensive_relaxation_per_na(emt_twin):
    """A cheap level with the expensive one's energies: the expensive relaxation starts at the
    minimum (1-2 evaluations), nothing is added, and the path equals the single-fidelity one."""
    emt = get_backend("emt")
    ladder = fill(cavity(1.19), emt, FillingPolicy(max_na=4, screen_calculator=emt_twin, screen_margin_eV=0.0,
                                                        screen_keep=1))
    single = fill(cavity(1.19), emt, FillingPolicy(max_na=4, screen_calculator=None))
    assert [s["energy_eV"] for s in ladder.steps] == pytest.approx([s["energy_eV"] for s in single.steps], abs=1e-6)
    for s in ladder.steps:
        assert s["n_relaxed"] == 1 and s["ladder"]["agree"] and s["ladder"]["added"] == []
        assert s["cost"]["emt"]["evaluations"] <= 3
        assert s["cost"][emt_twin]["relaxations"] >= 1
        assert abs(s["ladder"]["prediction_error_eV"]) < 1e-6 or s["n_na"] == 1
    total = ladder.summary["cost"]
    assert total["emt"]["evaluations"] == sum(s["cost"]["emt"]["evaluations"] for s in ladder.steps)
    assert ladder.summary["evaluations_per_na"] == pytest.approx(total["emt"]["evaluations"] / 4)
    # the single-fidelity search pays its pre-screen with the fill's own backend
    assert single.summary["cost"]["emt"]["single_points"] > 0
    assert all(s["ladder"] is None for s in single.steps)


def test_ladder_adds_candidates_when_the_levels_disagree_and_caps_them(tmp_path):
    """surrogate (cheap) vs emt (expensive) disagree: the rule adds candidates, never past screen_max;
    the run resumes to the same path after losing its last step."""
    emt = get_backend("emt")
    policy = dict(max_na=5, screen_calculator="surrogate", screen_keep=1, screen_max=3)
    path = fill(cavity(1.19), emt, FillingPolicy(**policy), out_dir=tmp_path / "r")
    n_exp = [s["n_relaxed"] for s in path.steps]
    assert max(n_exp) <= 3 and any(n > 1 for n in n_exp)
    for s in path.steps:
        assert s["n_relaxed"] == 1 + len(s["ladder"]["added"])
        assert set(s["cost"]) == {"emt", "surrogate"}
    assert len(path.state["ladder_pairs"]) >= 5
    # a run stopped after 3 Na and extended to 5 gives the same path (the correction's state resumes)
    fill(cavity(1.19), emt, FillingPolicy(**{**policy, "max_na": 3}), out_dir=tmp_path / "s")
    again = fill(cavity(1.19), emt, FillingPolicy(**policy), out_dir=tmp_path / "s")
    assert [s["energy_eV"] for s in again.steps] == [s["energy_eV"] for s in path.steps]
    assert [s["n_relaxed"] for s in again.steps] == n_exp


def _plan_with(cheap_eV: list[float], reserve_eV: list[float]):
    from nafill.workflows.engine.steps import CandidatePlan, StepPlan

    def cand(e):
        return CandidatePlan(0, [0.0, 0.0, 0.0], "site", {}, e)

    return StepPlan(5, [cand(e) for e in cheap_eV], 0, 0, 0, [], 0.0, reserve=[cand(e) for e in reserve_eV],
                    screen={"e_host_cheap_eV": 0.0, "added": []})


def _result(e):
    from nafill.workflows.engine.documents import RelaxResult

    return RelaxResult(e, 0.01, 5, True, None, "x")


@pytest.mark.parametrize(
    "expensive, correction, added",
    [
        # same ranking, prediction on the mark, next candidate 0.3 eV up: the step is decided
        ([-1.0, -0.9], Correction(), False),
        # the expensive ranking flips the cheap one: one more
        ([-0.8, -0.9], Correction(), True),
        # same ranking, but the corrected cheap energy missed the best by 0.2 eV (> 0.05): one more
        ([-1.2, -1.1], Correction(), True),
        # the same miss without the run-learned correction (raw differences only): decided
        ([-1.2, -1.1], None, False),
    ],
)
def test_extend_plan_rules(expensive, correction, added):
    from nafill.workflows.engine.ladder import extend_plan

    plan = _plan_with([-1.0, -0.9], [-0.7, -0.6])
    policy = FillingPolicy(screen_keep=2, screen_max=5, screen_margin_eV=0.05)
    new = extend_plan(plan, [_result(e) for e in expensive], [True, True], policy, correction, 0.0, 0.0)
    assert (new == [2]) is added
    assert len(plan.candidates) == (3 if added else 2) and len(plan.reserve) == (1 if added else 2)
    if added:
        assert len(plan.screen["added"]) == 1
    # the cap: a plan already at screen_max takes nothing more
    full = _plan_with([-1.0] * 5, [-0.7])
    assert extend_plan(full, [_result(-0.5)] * 5, [True] * 5, policy, correction, 0.0, 0.0) == []


def test_ladder_settings_do_not_change_a_single_fidelity_identity():
    """Without a screen the ladder's settings change nothing: a run folder or study part keeps its
    identity (resume, keys) when they change; with a screen they are part of it."""
    a = FillingPolicy(screen_keep=1, screen_max=3).validate(None, "emt").physical()
    b = FillingPolicy(screen_keep=2, screen_max=5, screen_pool=20).validate(None, "emt").physical()
    assert a == b and "screen_keep" not in a
    c = FillingPolicy(screen_keep=1).validate(None, "mlip").physical()
    d = FillingPolicy(screen_keep=2).validate(None, "mlip").physical()
    assert c != d and c["screen_calculator"] == "surrogate"
    # defaults added after run folders existed stay out of the identity (those folders resume);
    # a non-default value is part of it
    assert not {"coalesce_max", "coalesce_max_na", "screen_diversity_eV", "screen_hessian"} & set(c)
    assert FillingPolicy(coalesce_max=0).validate(None, "emt").physical()["coalesce_max"] == 0
    assert FillingPolicy(screen_diversity_eV=0.0).validate(None, "mlip").physical()["screen_diversity_eV"] == 0.0


def test_cheap_hessian_is_the_curvature_and_shortens_the_expensive_relaxation():
    from nafill.structures.sites import add_guest
    from nafill.workflows.engine.hessian import finite_difference_hessian, free_indices

    emt = get_backend("emt")
    host = cavity(1.19)
    mid = host.positions[:, 2].mean()
    a = add_guest(add_guest(host, np.array([1.0, 1.2, mid - 3.0])), np.array([4.1, 3.0, mid + 2.5]))
    h, n_calls, _ = finite_difference_hessian(emt, a)
    assert h.shape == (6, 6) and n_calls == 12 and np.allclose(h, h.T)
    # the Hessian predicts the force change of a small displacement (second order)
    d = np.random.default_rng(1).normal(0, 0.003, 6)
    b = a.copy()
    b.positions[free_indices(a)] += d.reshape(2, 3)
    fa = emt.calculator.get_forces(a)[free_indices(a)].ravel()
    fb = emt.calculator.get_forces(b)[free_indices(a)].ravel()
    assert np.abs((fb - fa) + h @ d).max() < 0.05 * np.abs(fb - fa).max() + 1e-4
    # from a displaced start, the same minimum in fewer steps
    start = a.copy()
    start.positions[free_indices(a)] += np.random.default_rng(2).normal(0, 0.15, (2, 3))
    plain = emt.relax(start, 0.01, 300)
    r0 = emt.relax(start, 0.01, 300)
    hs = finite_difference_hessian(emt, r0.atoms())[0]
    warm = emt.relax(start, 0.01, 300, initial_hessian=hs)
    assert warm.ok and warm.energy_eV == pytest.approx(plain.energy_eV, abs=2e-3)
    assert warm.n_ionic_steps < plain.n_ionic_steps
    # a Hessian of the wrong size is ignored, not an error
    assert emt.relax(start, 0.01, 300, initial_hessian=np.eye(3)).n_ionic_steps == plain.n_ionic_steps


def test_ladder_hands_the_cheap_hessian_to_the_expensive_level_and_counts_it(like_surface_backend):
    """The expensive level is a surface like the cheap one's (:func:`like_surface_backend`), as
    SevenNet-0's is like the surrogate's. (Under ``emt``, whose Na cluster where the surrogate's
    stay apart, the cheap curvature misleads: session 16 measured 177 EMT evaluations warm against
    88 cold.)"""
    name, options = like_surface_backend
    exp = get_backend(name, **options)
    policy = dict(max_na=4, fmax_eV_A=0.01, screen_calculator="surrogate", screen_keep=1, screen_max=2)
    warm = fill(cavity(1.19), exp, FillingPolicy(**policy), use_cache=False)
    cold = fill(cavity(1.19), exp, FillingPolicy(**policy, screen_hessian=False), use_cache=False)
    ev = [sum(s["cost"][exp.name]["evaluations"] for s in p.steps) for p in (warm, cold)]
    assert ev[0] < 0.75 * ev[1]  # measured 16 against 31 (session 16)
    assert [s["formation_enthalpy_eV"] for s in warm.steps] == pytest.approx(
        [s["formation_enthalpy_eV"] for s in cold.steps], abs=2e-3)
    # the finite differences are cheap-level single points: 6 per Na per candidate handed on
    for w, c in zip(warm.steps, cold.steps):
        extra = w["cost"]["surrogate"]["single_points"] - c["cost"]["surrogate"]["single_points"]
        assert extra >= 6 * w["n_na"]
    assert "screen_hessian" not in FillingPolicy().physical()
    assert FillingPolicy(screen_hessian=False).physical()["screen_hessian"] is False


def test_diverse_order_puts_one_of_each_motif_near_the_top_first():
    e = [0.0, 0.05, 0.10, 0.20, 0.50]
    sig = [(1, 1), (1, 1), (2,), (2,), (3,)]
    assert diverse_order(e, sig, 0.3) == [0, 2, 1, 3, 4]  # (3,) is 0.5 eV up: outside the window
    assert diverse_order(e, sig, 0.6) == [0, 2, 4, 1, 3]
    assert diverse_order(e, sig, 0.0) == [0, 1, 2, 3, 4]


def test_the_screen_proposes_nucleation_moves_and_sends_one_of_each_motif_first():
    """At 4 Na the cheap search relaxes the gathered (coalesced) candidates too, and the expensive
    level gets the lowest of each motif before a second one of the same motif."""
    from nafill.structures.moves import cluster_signature
    from nafill.workflows.engine.steps import plan_step

    emt = get_backend("emt")
    policy = dict(max_na=3, screen_calculator="surrogate", screen_keep=3, screen_max=6, screen_diversity_eV=10.0)
    path = fill(cavity(1.82), emt, FillingPolicy(**policy))
    plan = plan_step(path, emt)
    sent = plan.candidates + plan.reserve
    sigs = [cluster_signature(c.atoms()) for c in sent]
    n_motifs = len(set(sigs))
    assert n_motifs >= 2  # isolated Na and at least one cluster motif among the cheap minima
    assert len(set(sigs[:n_motifs])) == n_motifs  # one of each motif first
    assert plan.n_screened > 12 + 2  # the pool of 12, 2 perturbed, and the moves
    # without the moves and the diversity, fewer cheap relaxations and cheap-energy order only
    plain = fill(cavity(1.82), emt, FillingPolicy(**{**policy, "coalesce_max": 0, "screen_diversity_eV": 0.0}))
    p2 = plan_step(plain, emt)
    assert p2.n_screened < plan.n_screened
    e = [c.prescreen_energy_eV for c in p2.candidates + p2.reserve]
    assert e == sorted(e)


def test_the_screen_gathers_onto_the_best_cheap_relaxed_candidate_too(monkeypatch):
    """Under a screen the nucleation moves run twice: on the best pre-screened candidate and on the
    best cheap-relaxed one; the second set is relaxed by the cheap level and counted in its cost."""
    from nafill.workflows.engine import steps

    emt = get_backend("emt")
    policy = dict(max_na=3, screen_calculator="surrogate", screen_keep=2, screen_max=3)
    path = fill(cavity(1.82), emt, FillingPolicy(**policy))
    calls = []
    real = steps._coalesced

    def spy(plans, policy, seed):
        out = real(plans, policy, seed)
        calls.append((plans, out))
        return out

    monkeypatch.setattr(steps, "_coalesced", spy)
    plan = steps.plan_step(path, emt)
    assert len(calls) == 2
    _, (relaxed, moved_relaxed) = calls  # the second: the moves on the relaxed best
    assert len(relaxed) == 1 and relaxed[0].prescreen_energy_eV is not None
    # the relaxed base is the cheap level's lowest minimum of the pool
    cheap = plan.screen["cheap_energies_eV"]
    n_pool = len(cheap) - len(moved_relaxed)
    assert relaxed[0].prescreen_energy_eV == pytest.approx(min(e for e in cheap[:n_pool] if np.isfinite(e)))
    assert moved_relaxed  # 3 isolated Na at x = 4: gathering 1 and 2 of them onto the seed
    # every cheap relaxation is counted: the screened pool and the moves on its relaxed best
    assert plan.n_screened == len(cheap) > n_pool
    assert plan.cost["surrogate"]["relaxations"] >= plan.n_screened


def test_the_cheap_level_takes_its_options_from_the_policy(like_surface_backend, tmp_path):
    """``screen_options`` reach the cheap backend (a one-network surrogate file changes the cheap
    energies the ladder records; a copy of the shipped file changes nothing), are stored with an
    absolute file path, and are part of the run's identity only when given."""
    from nafill.workflows.backends.surrogate.model import PARAMETERS_FILE

    _, one = like_surface_backend
    same = tmp_path / "copy.json"
    same.write_text(PARAMETERS_FILE.read_text())
    emt = get_backend("emt")
    base = dict(max_na=2, screen_calculator="surrogate", screen_keep=1, screen_max=1)
    runs = [fill(cavity(1.19), emt, FillingPolicy(**base, screen_options=o), use_cache=False)
            for o in (None, {"parameters_file": str(same)}, one)]
    cheap = [[s["ladder"]["prediction_error_uncorrected_eV"] for s in p.steps] for p in runs]
    assert cheap[1] == pytest.approx(cheap[0], abs=1e-9)
    assert [s["energy_eV"] for s in runs[1].steps] == pytest.approx([s["energy_eV"] for s in runs[0].steps], abs=1e-9)
    assert abs(cheap[2][0] - cheap[0][0]) > 1e-4  # another network: other cheap energies
    assert runs[1].policy["screen_options"] == {"parameters_file": str(same.resolve())}
    assert "screen_options" not in FillingPolicy(**base).validate(None, "emt").physical()
    assert FillingPolicy(**base, screen_options=one).validate(None, "emt").physical()["screen_options"] == one


@pytest.mark.parametrize("options,message", [
    ({"bogus": 1}, "--screen-option: the surrogate backend refuses {'bogus': 1}"),
    ({"parameters_file": "/no/such/file.json"}, "No such file"),
    ([("maxstep_A", 0.1)], "must be a mapping"),
    ({"maxstep_A": object()}, "values must be JSON"),
])
def test_bad_screen_options_are_refused_before_any_work(options, message):
    with pytest.raises(NafillInputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        FillingPolicy(screen_calculator="surrogate", screen_options=options).validate(None, "emt")
    with pytest.raises(NafillInputError, match="given, but the fill has no screen"):
        FillingPolicy(screen_calculator="none", screen_options={"maxstep_A": 0.1}).validate(None, "emt")
