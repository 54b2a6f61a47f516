"""How a fill searches: :class:`FillingPolicy` (candidates, pre-screen, beam, relaxation and stop
settings), validated once and stored in every path document."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from nafill.errors import NafillInputError, check_int, check_range
from nafill.workflows.backends.registry import checked_backend, default_fmax_eV_A
from nafill.workflows.engine.ladder import AUTO, resolve_screen
from nafill.workflows.engine.order import FILL_ORDERS
from nafill.workflows.engine.parallel import resolve_workers


@dataclass
class FillingPolicy:
    """How a fill searches. Counts are per step and per beam member.

    Attributes:
        max_na: stop after this many Na (default: the host's theoretical capacity).
        n_candidates: at most this many symmetry-distinct sites are considered (a seeded subset
            when more are proposed).
        prescreen: relax only the best ``prescreen`` candidates by single-point energy
            (None: relax every considered candidate, no pre-screen).
        prescreen_steps: 0 = pre-screen by single points at the raw sites; N > 0 = the best
            ``prescreen_pool`` of those then relax the new Na alone (the rest frozen) for up to N
            steps before the final ranking, and the kept ones start from there.
        prescreen_pool: candidates given the short relaxation (see ``prescreen_steps``).
        beam_width: keep this many lowest-energy structures per step (1 = greedy path).
        fmax_eV_A: force threshold of the relaxations, eV/A; None (default) = the backend's own
            default, filled in by :meth:`validate` given the backend: 0.01 for ``vasp`` (the
            protocol's EDIFFG = -0.01), 0.05 for the others.
        max_relax_steps: ionic steps allowed per relaxation.
        stop_rise_eV: stop once H has stayed more than this above its running minimum for
            ``stop_patience`` consecutive steps (None: off). Set it above the expected
            nucleation barrier, or the fill stops on the barrier.
        stop_patience: see ``stop_rise_eV``.
        stop_sharp_rise_V: stop at the practical limit plus a margin: once the study reading of
            the practical capacity (:func:`nafill.analysis.profile.study_practical_capacity` with
            this threshold, V) is decided by a sharp rise after nucleation, go on for
            ``stop_margin`` more steps and stop (None: off).
        stop_margin: see ``stop_sharp_rise_V``.
        seed: seed of every random choice (site directions and subsets).
        workers: processes relaxing candidates in parallel (does not change the path).
        refine_trials: add this many extra candidates per step: the best pre-screened structure
            with every Na displaced at random (Gaussian, ``refine_sigma_A``), relaxed like the
            others; it finds collective rearrangements that adding one Na does not (a cheap
            basin-hopping move). Applied while the pore holds at most ``refine_max_na`` Na, where
            small-cluster isomers compete; at every step on a screen's cheap level and on
            ``surrogate`` fills (0 trials: off).
        refine_sigma_A: width of the random displacements, A.
        refine_max_na: last Na count that gets the refinement candidates on a single-fidelity
            search (``mlip``, ``vasp``, ``module:factory``, ``emt``). They run at every step where
            they cost only millisecond calls and the path is meant as physics: under a screen (the
            cheap level searches) and on ``surrogate`` fills
            (:attr:`nafill.workflows.backends.base.Backend.searches_every_step`). Measured
            (session 17, the surrogate, 1.82 nm to 20 Na): perturbations and moves to 6 and 12
            Na only, H(12..16) = 1.28 1.38 1.43 1.59 1.44 eV, 5,950 calls; at every step 1.01
            0.98 0.92 1.03 1.14 eV, 8,055 calls (SevenNet-0 relaxing those structures: within
            0.06 eV of the surrogate's H, and 0.27-0.53 eV below the first path's at 12-16 Na). A
            surrogate run folder from before resumes and goes on with the wider search.
        coalesce_max: add candidates in which 1 .. ``coalesce_max`` isolated Na nearest to a
            seed are gathered onto the seed's cluster (:func:`nafill.structures.moves.coalesce`;
            seeds: the new Na of the best pre-screened candidate and its largest cluster), relaxed
            like the others: the nucleation move that adding one Na at a time does not make
            (0: off). From the third Na on, while the pore holds at most ``coalesce_max_na`` Na on
            a single-fidelity search (at most ``2 coalesce_max`` more relaxations per step), at
            every step on a screen's cheap level and on ``surrogate`` fills (see
            ``refine_max_na``).
        coalesce_max_na: last Na count that gets the nucleation moves on a single-fidelity
            search (not the surrogate's). 12 covers the critical sizes of the cavities (7-10
            Na): up to 6 (the ``refine_max_na`` it used to share), the surrogate's own fill of 1.82 nm went on past
            7 Na with isolated Na and over a 2.53 eV barrier at n* = 10; to 10 or 16, it found
            the cluster at 7 Na (barrier 1.67 eV at n* = 7; SevenNet-0 on the ladder: 1.57 eV
            at 6, session 10).
        screen_calculator: the cheap level of the fidelity ladder. ``"auto"`` (default): ``vasp``
            is screened by ``mlip`` (else ``surrogate``), ``mlip`` by ``surrogate``, the others not
            at all; ``None``/``"none"``: a single-fidelity search with the fill's own backend; a
            backend name: that one. With a screen, the whole search (sites, pre-screen, short and
            full relaxations, perturbation moves) runs on the cheap backend and the fill's backend
            relaxes only the best ``screen_keep`` candidates, starting from the cheap geometry,
            adding one more at a time (see :func:`nafill.workflows.engine.ladder.extend_plan`)
            up to ``screen_max``.
        screen_options: keyword options of the cheap backend, as ``get_backend(name, **options)``
            takes them (e.g. ``{"parameters_file": "my_fit.json"}`` for a refitted ``surrogate``,
            ``{"dispersion": "d3-zero"}`` for ``mlip``); None: its defaults. JSON values only:
            they are stored in the path document and carried to FireWorks in the policy (an
            option named ``*_file`` that names an existing file is stored as its absolute path).
        screen_pool: with a screen, the pre-screen keeps this many candidates (instead of
            ``prescreen``) for full cheap relaxations: the cheap level costs almost nothing, and a
            wider pool gives the expensive level distinct minima to choose from.
        screen_keep: expensive relaxations every step starts with (2: the first comparison of
            the two rankings comes for free).
        screen_diversity_eV: the expensive candidates are the lowest cheap minimum, then the
            lowest of each other motif (:func:`nafill.structures.moves.cluster_signature`: its
            cluster sizes and close pairs of isolated Na) within this of it, then the rest by
            cheap energy, eV (0: by cheap energy alone). The cheap level's errors are largest between motifs (adatoms against
            a cluster), so each motif near the top gets one expensive relaxation.
        screen_max: most expensive relaxations per step. Measured (``benchmarks/ladder.py``, 1.19
            nm, mlip under the surrogate): with a cap of 5 the ranking rule took all 5 at every
            step and the relaxations from cheap geometries cost 4 (x = 2) to 20 (x = 5)
            evaluations each, 80 mlip evaluations at x = 5, twice issue 13's budget of 40 per
            Na, so the cap stays 3 (measured before ``screen_hessian``, which made each
            relaxation about 3 times cheaper).
        screen_margin_eV: take one more candidate when its predicted expensive energy is within
            this of the best found, or (with ``screen_learn``) when the corrected cheap energy
            missed the best expensive energy by more than this, eV.
        screen_learn: correct the cheap energies with what the expensive backend said so far in
            this run (a fitted offset, slope and per-Na term) before the margin test.
        screen_hessian: the expensive relaxations start their BFGS from the cheap level's
            Hessian at the cheap minimum (:mod:`nafill.workflows.engine.hessian`) instead of the
            stiff default guess: several times fewer expensive evaluations per relaxation. Not
            computed under ``vasp``, whose own optimiser takes none.
        fill_order: ``"energy"`` (every site of the pore competes) or ``"narrow-first"`` (connected
            pores: the next Na goes to the narrowest section that is not yet full, as the
            published mechanism has it; see :mod:`nafill.workflows.engine.order`). No effect on
            hosts without sections.
        section_sharp_rise_V: narrow-first: a section is full once the Na put in it show a sharp
            rise (step voltage below minus this, V) after nucleation, the study reading.
        site_height_A, min_host_distance_A, min_na_distance_A, n_directions: passed to
            :func:`nafill.structures.sites.candidate_sites`.
    """

    max_na: int | None = None
    n_candidates: int = 64
    prescreen: int | None = 4
    prescreen_steps: int = 5
    prescreen_pool: int = 64
    beam_width: int = 1
    fmax_eV_A: float | None = None
    max_relax_steps: int = 300
    stop_rise_eV: float | None = None
    stop_patience: int = 3
    stop_sharp_rise_V: float | None = None
    stop_margin: int = 2
    seed: int = 0
    workers: int = 1
    refine_trials: int = 2
    refine_sigma_A: float = 0.8
    refine_max_na: int = 6
    coalesce_max: int = 4
    coalesce_max_na: int = 12
    screen_calculator: str | None = AUTO
    screen_options: dict[str, Any] | None = None
    screen_pool: int = 12
    screen_keep: int = 2
    screen_diversity_eV: float = 0.3
    screen_max: int = 3
    screen_margin_eV: float = 0.05
    screen_learn: bool = True
    screen_hessian: bool = True
    fill_order: str = "energy"
    section_sharp_rise_V: float = 0.25
    site_height_A: float = 2.4
    min_host_distance_A: float = 2.0
    min_na_distance_A: float = 2.8
    n_directions: int = 16

    SCREEN_FIELDS = ("screen_options", "screen_pool", "screen_keep", "screen_max", "screen_margin_eV", "screen_learn",
                     "screen_hessian", "screen_diversity_eV")
    """The ladder's settings (no effect without ``screen_calculator``)."""

    LATER_FIELDS = ("screen_hessian", "screen_diversity_eV", "coalesce_max", "coalesce_max_na", "screen_options")
    """Fields added after run folders existed: left out of :meth:`physical` at their defaults, so
    those folders resume (and go on with the new search)."""

    NON_PHYSICAL = ("workers", "max_na", "stop_rise_eV", "stop_patience", "stop_sharp_rise_V", "stop_margin")
    """Fields that may change on resume without changing the path computed so far."""

    def validate(self, capacity: int | None = None, backend=None) -> FillingPolicy:
        """Check every value (raising :class:`NafillInputError`); fill ``max_na`` from capacity,
        an unset ``fmax_eV_A`` from ``backend`` (a name or a backend object) and resolve
        ``screen_calculator="auto"`` for that backend."""
        if self.fmax_eV_A is None and backend is not None:
            self.fmax_eV_A = (default_fmax_eV_A(backend) if isinstance(backend, str)
                              else float(backend.default_fmax_eV_A))
        backend_name = None if backend is None else backend if isinstance(backend, str) else backend.name
        check_int("n_candidates", self.n_candidates, 1, 10000)
        if self.prescreen is not None:
            check_int("prescreen", self.prescreen, 1, 10000)
        check_int("prescreen_steps", self.prescreen_steps, 0, 10000)
        check_int("prescreen_pool", self.prescreen_pool, 1, 10000)
        check_int("beam_width", self.beam_width, 1, 100)
        if self.fmax_eV_A is not None:
            check_range("fmax_eV_A", self.fmax_eV_A, 0.0, 10.0, "eV/A", lo_inclusive=False)
        check_int("max_relax_steps", self.max_relax_steps, 1, 100000)
        if self.stop_rise_eV is not None:
            check_range("stop_rise_eV", self.stop_rise_eV, 0.0, None, "eV", lo_inclusive=False)
        check_int("stop_patience", self.stop_patience, 1, 1000)
        if self.stop_sharp_rise_V is not None:
            check_range("stop_sharp_rise_V", self.stop_sharp_rise_V, 0.0, None, "V", lo_inclusive=False)
        check_int("stop_margin", self.stop_margin, 0, 1000)
        check_int("seed", self.seed, 0, 2**32 - 1)
        self.workers = resolve_workers(self.workers)
        if self.fill_order not in FILL_ORDERS:
            raise NafillInputError(f"fill_order = {self.fill_order!r} must be one of {', '.join(FILL_ORDERS)}")
        check_range("section_sharp_rise_V", self.section_sharp_rise_V, 0.0, None, "V", lo_inclusive=False)
        check_range("site_height_A", self.site_height_A, 1.0, 5.0, "A")
        check_range("min_host_distance_A", self.min_host_distance_A, 0.5, 4.0, "A")
        check_range("min_na_distance_A", self.min_na_distance_A, 0.5, 5.0, "A")
        check_int("n_directions", self.n_directions, 1, 1000)
        check_int("screen_pool", self.screen_pool, 1, 10000)
        check_int("screen_keep", self.screen_keep, 1, 100)
        check_int("screen_max", self.screen_max, self.screen_keep, 100)
        check_range("screen_margin_eV", self.screen_margin_eV, 0.0, 10.0, "eV")
        check_range("screen_diversity_eV", self.screen_diversity_eV, 0.0, 10.0, "eV")
        check_int("coalesce_max", self.coalesce_max, 0, 100)
        check_int("coalesce_max_na", self.coalesce_max_na, 0, 100000)
        self.screen_calculator = resolve_screen(self.screen_calculator, backend_name)
        check_int("refine_trials", self.refine_trials, 0, 1000)
        check_int("refine_max_na", self.refine_max_na, 0, 100000)
        check_range("refine_sigma_A", self.refine_sigma_A, 0.0, 3.0, "A", lo_inclusive=False)
        self.screen_options = check_screen_options(self.screen_options, self.screen_calculator)
        if capacity is not None:
            if capacity < 1:
                raise NafillInputError(
                    "the host has a theoretical capacity of 0 Na (its pore is too narrow for any Na)"
                )
            if self.max_na is None:
                self.max_na = capacity
            check_int("max_na", self.max_na, 1, capacity)
        elif self.max_na is not None:
            check_int("max_na", self.max_na, 1, 100000)
        return self

    def perturbs_at(self, n_na: int, every_step: bool) -> bool:
        """Whether the step adding Na number ``n_na`` gets the ``refine_trials`` perturbed
        candidates: from the second Na, up to ``refine_max_na``, or at every step (``every_step``:
        a screen's cheap level, a ``surrogate`` fill)."""
        return bool(self.refine_trials) and n_na > 1 and (n_na <= self.refine_max_na or every_step)

    def coalesces_at(self, n_na: int, every_step: bool) -> bool:
        """Whether the step adding Na number ``n_na`` gets the nucleation moves (``coalesce_max``):
        from the third Na, up to ``coalesce_max_na``, or at every step (``every_step``)."""
        return bool(self.coalesce_max) and n_na > 2 and (n_na <= self.coalesce_max_na or every_step)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FillingPolicy:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def without_unused_ladder(self, backend_name: str | None = None) -> dict[str, Any]:
        """:meth:`as_dict` without the ladder's settings (:attr:`SCREEN_FIELDS`) when the fill is
        not screened (``screen_calculator`` resolved for ``backend_name``): they change nothing
        then, so a single-fidelity run folder or study part keeps its identity when their
        defaults change."""
        out = self.as_dict()
        if resolve_screen(self.screen_calculator, backend_name) is None:
            for k in self.SCREEN_FIELDS:
                del out[k]
        return out

    def physical(self) -> dict[str, Any]:
        """The fields that determine the path (everything but :attr:`NON_PHYSICAL`; without a
        screen, not the ladder's settings either: :meth:`without_unused_ladder`)."""
        out = {k: v for k, v in self.without_unused_ladder().items() if k not in self.NON_PHYSICAL}
        if out["fill_order"] == "energy":  # the default order: keys and resume checks as before it existed
            del out["fill_order"], out["section_sharp_rise_V"]
        defaults = {f.name: f.default for f in fields(self)}
        for name in self.LATER_FIELDS:  # at their defaults: as for the runs from before they existed
            if name in out and out[name] == defaults[name]:
                del out[name]
        return out


def check_screen_options(options: Any, screen: str | None) -> dict[str, Any] | None:
    """``screen_options`` checked against the resolved ``screen`` (a backend name, ``"auto"`` while
    the fill's backend is unknown, or None): a JSON object of keyword options, refused without a
    screen; the cheap backend is built once here, so an unknown name, a missing extra or an
    option it refuses fails before any work. Returns the options (None when empty)."""
    if options is not None and not isinstance(options, dict):
        raise NafillInputError(f"screen_options = {options!r} must be a mapping of the cheap backend's "
                               "keyword options (--screen-option KEY=VALUE)")
    options = dict(options) if options else None
    for key, value in (options or {}).items():  # a file named relative to here stays found from a launch folder
        if key.endswith("_file") and isinstance(value, str) and Path(value).exists():
            options[key] = str(Path(value).resolve())
    if options is not None:
        if screen is None:
            raise NafillInputError(f"screen_options = {options} given, but the fill has no screen "
                                   "(--screen none, or a backend that 'auto' screens with nothing)")
        try:
            json.dumps(options)
        except (TypeError, ValueError):
            raise NafillInputError(f"screen_options = {options!r}: values must be JSON (numbers, strings, "
                                   "booleans, lists, objects)") from None
    if screen not in (None, AUTO):  # unknown names, missing extras and refused options fail now
        checked_backend(screen, options, flag="--screen-option")
    return options
