"""The whole closed-pore study in one command (``nafill study``): plan, bill, submit, run, collect.

A study is a set of *parts*, each one FireWorks workflow on the embedded or a real LaunchPad:

* ``spacing``: relax 2..7 bcc Na layers between the walls (walls and Na free), one workflow;
* ``cavities``: fill each cavity (default the published 0.82 ... 2.18 nm; with
  ``cavity_source="found"`` the spacings step 1 found for each layer count) to its practical limit
  plus a margin (the stop rule ``stop_sharp_rise_V`` / ``stop_margin`` of the policy, capped at
  the theoretical capacity or ``cavity_max_na``);
* ``orifices``: fill each orifice spacing (0.375 ... 0.70 nm) to its capacity;
* ``connected``: each connected pore, filled narrow first (``fill_order="narrow-first"``: the next
  Na goes to the narrowest section that is not yet full, see :mod:`nafill.workflows.engine.order`),
  and its isolated counterpart (the widest section alone; shared with ``cavities`` when the size is
  the same);
* ``neb``: the orifice diffusion barrier at each spacing (adjacent minima, climbing image);
* ``capacities``: no workflow of its own: Na counts and mAh/g of the cavity fills (needs them).

With ``cavity_source="found"`` the cavity fills are planned once step 1 has finished: the command
runs the spacing workflow first, reads its relaxed spacings from the LaunchPad and then submits one
fill per spacing (until then they are listed as *waiting for step 1*; with ``--submit-only`` run the
command again once step 1 is done). The spacings are stored on the LaunchPad, so a re-run plans the
same fills and finds them.

Every part has a deterministic key (host, backend, policy and the study folder): running the
command again finds the workflows already submitted and does not resubmit them; FireWorks does
not relaunch completed Fireworks and re-runs those lost by a killed runner, so a resumed study
recomputes nothing that was finished. A part that fails (a FIZZLED workflow, or an error while
running it) is recorded and reported; the other parts go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nafill.analysis.capacity import PUBLISHED_VALENCE
from nafill.analysis.profile import SHARP_RISE_V
from nafill.constants import STANDARD_CAVITY_SPACINGS_NM
from nafill.errors import NafillInputError, check_int, check_range
from nafill.io import atomic_write_text
from nafill.structures.capacity import pore_capacity
from nafill.structures.connected import connected_pore
from nafill.structures.pores import cavity, orifice
from nafill.workflows.backends.registry import get_backend, searches_every_step
from nafill.workflows.engine.ladder import resolve_screen
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.studies.cost import (
    NEB_CALLS_ASSUMED,
    RELAX_CALLS_ASSUMED,
    launch_record,
    measured_rates,
    record_cost,
    study_cost,
)

log = logging.getLogger(__name__)

STEPS = ("spacing", "cavities", "orifices", "connected", "neb", "capacities")
"""The study's steps, in order (``--only`` picks some)."""

PUBLISHED_ORIFICES_NM = (0.375, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
PUBLISHED_CONNECTED_NM = ((0.5, 1.2), (0.5, 1.48), (0.5, 1.82), (1.2, 1.82))
PUBLISHED_NEB_NM = (0.40, 0.45, 0.50, 0.55)

STUDY_FILE = "study.json"

CAVITY_SOURCES = ("published", "found")
"""Where the cavity sizes come from: the published spacings (or ``cavities_nm``), or step 1's."""
CAVITY_RANGE_NM = (0.6, 5.0)
"""Cavity sizes the study fills, nm."""
FOUND_DECIMALS = 3
"""Found spacings are rounded to this many decimals of a nm before they name a cavity fill."""


@dataclass
class StudySettings:
    """Everything that defines a study (defaults: the published protocol).

    Sizes in nm; ``policy`` holds :class:`FillingPolicy` fields applied to every fill (the stop
    rule and caps are set per part from ``sharp_rise_V``, ``stop_margin`` and the ``*_max_na``).
    """

    calculator: str = "emt"
    calc_options: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=lambda: list(STEPS))
    layers: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7])
    cavities_nm: list[float] = field(default_factory=lambda: list(STANDARD_CAVITY_SPACINGS_NM.values()))
    orifices_nm: list[float] = field(default_factory=lambda: list(PUBLISHED_ORIFICES_NM))
    connected_nm: list[list[float]] = field(default_factory=lambda: [list(p) for p in PUBLISHED_CONNECTED_NM])
    neb_nm: list[float] = field(default_factory=lambda: list(PUBLISHED_NEB_NM))
    policy: dict[str, Any] = field(default_factory=dict)
    sharp_rise_V: float = SHARP_RISE_V
    stop_margin: int = 2
    cavity_max_na: int | None = None
    orifice_max_na: int | None = None
    connected_max_na: int = 40
    neb_images: int = 6
    neb_fmax_eV_A: float = 0.05
    spacing_fmax_eV_A: float = 0.02
    valence: float | None = None
    """Assumed Na valence (e/Na) for mAh/g when the backend gives no Bader charges
    (None: :data:`nafill.analysis.capacity.PUBLISHED_VALENCE`)."""
    mass_convention: str = "all-carbon"
    reduced: bool = False
    cavity_source: str = "published"
    """``published``: fill ``cavities_nm`` (default the published spacings); ``found``: fill the
    spacings step 1 relaxed for ``layers`` (the spacing step then always runs)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudySettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def reduced_settings(cls, **kw: Any) -> StudySettings:
        """The CI-sized study: two cavities, two orifices, one connected pair, one NEB spacing,
        two spacing relaxations, small caps and a cheap search."""
        base = dict(layers=[2, 3], cavities_nm=[1.19, 1.82], orifices_nm=[0.45, 0.60], connected_nm=[[0.5, 1.2]],
                    neb_nm=[0.45], cavity_max_na=8, orifice_max_na=4, connected_max_na=8,
                    policy={"n_candidates": 12, "prescreen": 2, "prescreen_pool": 12, "refine_trials": 0,
                            "coalesce_max": 0},
                    reduced=True)
        base.update(kw)
        return cls(**base)

    @property
    def assumed_valence(self) -> float:
        return PUBLISHED_VALENCE if self.valence is None else float(self.valence)

    def validate(self) -> StudySettings:
        unknown = [s for s in self.steps if s not in STEPS]
        if unknown or not self.steps:
            raise NafillInputError(f"only = {unknown or self.steps} must name steps among {', '.join(STEPS)}")
        if self.cavity_source not in CAVITY_SOURCES:
            raise NafillInputError(f"cavities = {self.cavity_source!r} must be one of {', '.join(CAVITY_SOURCES)}")
        for k in self.layers:
            check_int("layers", k, 1, 7)
        for s in self.cavities_nm:
            check_range("cavities_nm", s, *CAVITY_RANGE_NM, "nm")
        for s in self.orifices_nm:
            check_range("orifices_nm", s, 0.30, 0.8, "nm")
        for s in self.neb_nm:
            check_range("neb_nm", s, 0.30, 0.8, "nm")
        for pair in self.connected_nm:
            connected_pore(pair)  # validates the spacings
        check_range("sharp_rise_V", self.sharp_rise_V, 0.0, None, "V", lo_inclusive=False)
        check_int("stop_margin", self.stop_margin, 0, 100)
        for name in ("cavity_max_na", "orifice_max_na"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1, 100000)
        check_int("connected_max_na", self.connected_max_na, 1, 100000)
        check_int("neb_images", self.neb_images, 1, 30)
        if self.valence is not None:
            check_range("valence", self.valence, 0.0, 1.5, "e/Na", lo_inclusive=False)
        self.base_policy()  # validates the policy fields
        get_backend(self.calculator, **self.calc_options)  # unknown names / missing extras fail now
        return self

    def base_policy(self) -> FillingPolicy:
        names = {f.name for f in fields(FillingPolicy)}
        bad = sorted(set(self.policy) - names)
        if bad:
            raise NafillInputError(f"policy = {bad} are not FillingPolicy fields")
        return FillingPolicy(**self.policy).validate()


@dataclass
class Part:
    """One workflow of the study."""

    key: str
    step: str
    kind: str
    """``fill``, ``neb`` or ``spacing``."""
    label: str
    sizes_nm: list[float]
    expected_na: int = 0
    """Upper bound on the Na of a fill (its cap)."""
    relaxations: int = 0
    single_points: int = 0
    calls: int = 0
    """Estimated energy+force calls (see the bill and :mod:`nafill.workflows.studies.cost`)."""
    calls_source: str = "assumed"
    """``assumed`` (the stated calls per relaxation / NEB image) or ``measured`` (this study's rates)."""
    role: str = ""
    """``isolated`` / ``connected`` for the connected-pore step."""
    policy: dict[str, Any] = field(default_factory=dict)
    layers: int | None = None
    """Cavities from step 1's spacings: the Na layer count whose relaxed spacing this cavity is."""
    error: str | None = None
    """Why a part cannot run (kind ``skipped``), e.g. a found spacing outside the cavity range."""

    @property
    def waiting(self) -> bool:
        """A cavity fill that waits for step 1's spacing (planned with the published one as a stand-in)."""
        return self.kind == "waiting"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def study_tag(out_dir) -> str:
    """Identity of a study folder (part keys include it)."""
    return hashlib.sha256(str(Path(out_dir).resolve()).encode()).hexdigest()[:10]


def _key(tag: str, *bits: Any) -> str:
    return hashlib.sha256(json.dumps([tag, *bits], sort_keys=True, default=str).encode()).hexdigest()[:20]


def fill_cost(policy: FillingPolicy, n_steps: int, backend: str | None = None) -> tuple[int, int, int]:
    """(relaxations, single points, energy+force calls) of the fill's own backend that a fill of
    ``n_steps`` Na costs at most. With a fidelity ladder (``screen_calculator``, resolved for
    ``backend``) the search runs on the cheap backend and the fill's backend relaxes at most
    ``screen_max`` candidates per step."""

    screen = resolve_screen(policy.screen_calculator, backend)
    every = searches_every_step(backend)
    relax = sp = calls = 0
    for n in range(1, n_steps + 1):
        if screen:
            relax += policy.screen_max
            continue
        kept = policy.n_candidates if policy.prescreen is None else min(policy.prescreen, policy.n_candidates)
        extra = policy.refine_trials if policy.perturbs_at(n, every) else 0
        extra += 2 * policy.coalesce_max if policy.coalesces_at(n, every) else 0
        relax += kept + extra
        if policy.prescreen is not None:
            sp += policy.n_candidates
            calls += policy.n_candidates + min(policy.prescreen_pool, policy.n_candidates) * policy.prescreen_steps
    calls += relax * RELAX_CALLS_ASSUMED
    return relax, sp, calls


def study_steps(settings: StudySettings) -> set[str]:
    """The steps that run: ``--only`` plus what they need (capacities need the cavity fills, cavities
    from step 1's spacings need step 1)."""
    steps = set(settings.steps)
    if "capacities" in steps:
        steps.add("cavities")
    if "cavities" in steps and settings.cavity_source == "found":
        steps.add("spacing")
    return steps


def plan_parts(settings: StudySettings, tag: str, found_nm: dict[int, float] | None = None) -> list[Part]:
    """The parts of a study (nothing is built on a LaunchPad here).

    ``found_nm``: step 1's relaxed spacings by layer count (cavities from step 1); a layer count
    missing there gives a *waiting* part, billed with the published spacing as a stand-in.
    """
    steps = study_steps(settings)
    found_nm = found_nm or {}
    backend = {"name": settings.calculator, "options": settings.calc_options}
    base = settings.base_policy()
    parts: list[Part] = []
    seen: set[str] = set()

    def fill_part(step: str, kind_label: str, host, sizes, cap: int | None, stop: bool, role: str = "",
                  layers: int | None = None, waiting: bool = False) -> None:
        p = FillingPolicy.from_dict(base.as_dict())
        if role == "connected":  # Na enters through the narrow part: it fills first (the mechanism)
            p.fill_order = "narrow-first"
            p.section_sharp_rise_V = settings.sharp_rise_V
        capacity = pore_capacity(host)
        p.max_na = min(capacity, cap) if cap is not None else capacity
        if stop:
            p.stop_sharp_rise_V = settings.sharp_rise_V
            p.stop_margin = settings.stop_margin
        key = _key(tag, "waiting", layers) if waiting else _key(tag, "fill", backend, sizes, p.without_unused_ladder(backend))
        if key in seen:
            return
        seen.add(key)
        relax, sp, calls = fill_cost(p, p.max_na, settings.calculator)
        parts.append(Part(key, step, "waiting" if waiting else "fill", kind_label, list(sizes), p.max_na, relax, sp,
                          calls, role=role, policy=p.as_dict(), layers=layers))

    if "spacing" in steps:
        n = len(settings.layers)
        parts.append(Part(_key(tag, "spacing", backend, settings.layers, settings.spacing_fmax_eV_A), "spacing",
                          "spacing", f"spacing {'/'.join(map(str, settings.layers))} Na layers", [],
                          relaxations=n, calls=n * 4 * RELAX_CALLS_ASSUMED))
    if "cavities" in steps and settings.cavity_source == "found":
        for k in settings.layers:
            s = found_nm.get(k)
            if s is None:
                stand_in = STANDARD_CAVITY_SPACINGS_NM.get(k, 1.0)
                fill_part("cavities", f"cavity from {k} Na layers (waiting for step 1)", cavity(stand_in), [stand_in],
                          settings.cavity_max_na, True, layers=k, waiting=True)
            elif not CAVITY_RANGE_NM[0] <= s <= CAVITY_RANGE_NM[1]:
                parts.append(Part(_key(tag, "skipped", k, s), "cavities", "skipped", f"cavity {s:g} nm ({k} layers)",
                                  [s], layers=k, error=f"step 1 found {s:g} nm for {k} Na layers, outside the "
                                                       f"cavity range {CAVITY_RANGE_NM[0]}-{CAVITY_RANGE_NM[1]} nm"))
            else:
                s = round(float(s), FOUND_DECIMALS)
                fill_part("cavities", f"cavity {s:g} nm ({k} layers)", cavity(s), [s], settings.cavity_max_na, True,
                          layers=k)
    elif "cavities" in steps:
        for s in settings.cavities_nm:
            fill_part("cavities", f"cavity {s:g} nm", cavity(s), [s], settings.cavity_max_na, True)
    if "orifices" in steps:
        for s in settings.orifices_nm:
            fill_part("orifices", f"orifice {s:g} nm", orifice(s), [s], settings.orifice_max_na, True)
    if "connected" in steps:
        for pair in settings.connected_nm:
            wide = max(pair)
            fill_part("connected", f"cavity {wide:g} nm", cavity(wide), [wide], settings.cavity_max_na, True, "isolated")
            fill_part("connected", f"connected {'+'.join(f'{x:g}' for x in pair)} nm", connected_pore(pair),
                      list(pair), settings.connected_max_na, False, "connected")
    if "neb" in steps:
        for s in settings.neb_nm:
            calls = settings.neb_images * NEB_CALLS_ASSUMED * 2
            parts.append(Part(_key(tag, "neb", backend, s, settings.neb_images, settings.neb_fmax_eV_A), "neb", "neb",
                              f"orifice NEB {s:g} nm", [s], calls=calls))
    return parts


def apply_rates(parts: Sequence[Part], rates: dict[str, dict[str, float]] | None) -> None:
    """Replace the assumed energy+force calls of each part by this study's measured rates where it
    has some (:func:`nafill.workflows.studies.cost.measured_rates`)."""
    for p in parts:
        kind = "fill" if p.kind in ("fill", "waiting") else p.kind
        rate = (rates or {}).get(kind)
        if rate is None:
            continue
        units = {"fill": p.expected_na, "neb": 1, "spacing": p.relaxations}.get(kind, 0)
        p.calls, p.calls_source = int(round(units * rate["per_unit"])), "measured"


def format_bill(parts: Sequence[Part], settings: StudySettings, rates: dict[str, dict[str, float]] | None = None) -> str:
    """What will run, before anything is submitted: fills, Na counts, relaxations, single points and
    energy+force calls (from this study's measured rates where it has spent some, else assumed)."""
    apply_rates(parts, rates)
    lines = [f"study with calculator {settings.calculator!r}: {len(parts)} workflow(s)",
             f"{'part':<32} {'kind':<8} {'Na (max)':>8} {'relaxations':>11} {'single pts':>10} {'E+F calls':>10}"]
    for p in parts:
        mark = "" if p.calls_source == "measured" else "*"
        lines.append(f"{p.label[:32]:<32} {p.kind:<8} {p.expected_na or '-':>8} {p.relaxations:>11} "
                     f"{p.single_points:>10} {str(p.calls) + mark:>10}")
        if p.waiting:
            lines.append(f"{'':<4}(billed with the published {p.sizes_nm[0]:g} nm until step 1 has relaxed "
                         f"{p.layers} layers)")
        if p.error:
            lines.append(f"{'':<4}not run: {p.error}")
    tot = [sum(getattr(p, a) for p in parts) for a in ("relaxations", "single_points", "calls")]
    lines.append(f"{'total':<32} {'':<8} {sum(p.expected_na for p in parts):>8} {tot[0]:>11} {tot[1]:>10} {tot[2]:>10}")
    lines.append("Upper bounds: fills stop earlier by their stop rule; one relaxation is one VASP job.")
    unit = {"fill": "per Na step", "neb": "per NEB", "spacing": "per layer relaxation"}
    measured = [f"{rate['per_unit']:.0f} {unit[k]} (over {rate['n']})" for k, rate in sorted((rates or {}).items())]
    if measured:
        lines.append("E+F calls measured in this study so far: " + "; ".join(measured) + ".")
    if any(p.calls_source != "measured" for p in parts):
        lines.append(f"* assumed (nothing measured yet): {RELAX_CALLS_ASSUMED} calls per relaxation, "
                     f"{NEB_CALLS_ASSUMED} per NEB image; report.json's cost section has what was spent.")
    return "\n".join(lines)


def format_spent(cost: dict[str, Any]) -> str:
    """One paragraph: what the study has spent (measured), per backend, and its launches."""
    per = "; ".join(f"{name}: {int(c['evaluations'])} E+F calls, {int(c['relaxations'])} relaxations, "
                    f"{int(c['single_points'])} single points, {c['wall_s']:.0f} s" for name, c in cost["total"].items())
    lr = cost["launches"]
    return (f"spent (measured): {cost['total_evaluations']} energy+force calls ({per or 'nothing yet'}); "
            f"{lr['launches']} launch(es) of {lr['fireworks']} Firework(s), {lr['runtime_s']:.0f} s of launch time")


# ----------------------------------------------------------------------------- LaunchPad side
def _workflow_for(part: Part, settings: StudySettings, tag: str):
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.neb import neb_workflow
    from nafill.workflows.fireworks.spacing import spacing_workflow

    name = f"study {tag}: {part.label}"
    if part.kind == "fill":
        if part.label.startswith("connected"):
            host = connected_pore(part.sizes_nm)
        elif part.label.startswith("orifice"):
            host = orifice(part.sizes_nm[0])
        else:
            host = cavity(part.sizes_nm[0])
        wf = filling_workflow(host, settings.calculator, settings.calc_options, FillingPolicy.from_dict(part.policy),
                              name=name, key=part.key)
    elif part.kind == "neb":
        wf = neb_workflow(part.sizes_nm[0], part.key, settings.calculator, settings.calc_options,
                          n_images=settings.neb_images, fmax_eV_A=settings.neb_fmax_eV_A, name=name)
    else:
        wf = spacing_workflow(list(settings.layers), settings.calculator, settings.calc_options,
                              fmax_eV_A=settings.spacing_fmax_eV_A, fill=False)
        wf.name = name
    wf.metadata.update(nafill_key=part.key, nafill_study_tag=tag, nafill_study_part=part.label,
                       nafill_study_step=part.step)
    return wf


def found_spacings(lp, parts: Sequence[Part]) -> dict[int, float]:
    """Step 1's relaxed spacings (nm) by Na layer count, as far as they are on the LaunchPad."""
    from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION
    from nafill.workflows.fireworks.runner import find_workflow

    part = next((p for p in parts if p.kind == "spacing"), None)
    doc = None if part is None else find_workflow(lp, part.key)
    if doc is None:
        return {}
    study = doc.get("metadata", {}).get("nafill_study")
    return {int(d["layers"]): float(d["spacing_nm"]) for d in lp.db[SPACINGS_COLLECTION].find({"study": study})
            if d.get("spacing_nm") is not None}


def runnable(parts: Sequence[Part]) -> list[Part]:
    """The parts that are workflows (not waiting for step 1, not skipped)."""
    return [p for p in parts if p.kind in ("fill", "neb", "spacing")]


def submit_parts(lp, parts: Sequence[Part], settings: StudySettings, tag: str) -> dict[str, int]:
    """Add the parts not yet on the LaunchPad; return ``{key: wf_id}`` for every part (parts that are
    no workflow, waiting for step 1 or skipped, are left out)."""
    from nafill.workflows.fireworks.runner import find_workflow

    ids: dict[str, int] = {}
    for part in runnable(parts):
        doc = find_workflow(lp, part.key)
        if doc is None:
            wf = _workflow_for(part, settings, tag)
            ids[part.key] = min(lp.add_wf(wf).values())
        else:
            ids[part.key] = min(doc["nodes"])
    return ids


def _state(lp, wf_id: int) -> str:
    from nafill.workflows.fireworks.runner import workflow_doc

    return workflow_doc(lp, wf_id)["state"]


def run_parts(lp, parts: Sequence[Part], ids: dict[str, int], launch_dir: Path,
              echo: Callable[[str], None] = print) -> dict[str, str]:
    """Launch every part's ready Fireworks here, one part after the other; errors are recorded."""
    from nafill.workflows.fireworks.runner import run_launchpad

    errors: dict[str, str] = {}
    for part in parts:
        wf_id = ids[part.key]
        if _state(lp, wf_id) == "COMPLETED":
            echo(f"  {part.label}: done")
            continue
        t0 = time.perf_counter()
        try:
            n = run_launchpad(lp, wf_id, launch_dir=launch_dir)
        except Exception as exc:  # noqa: BLE001 - one failed part must not end the study
            errors[part.key] = f"{type(exc).__name__}: {exc}"
            log.exception("part %s failed", part.label)
            echo(f"  {part.label}: FAILED ({errors[part.key]})")
            continue
        echo(f"  {part.label}: {_state(lp, wf_id)} ({n} Firework(s), {time.perf_counter() - t0:.0f} s)")
    return errors


def collect(lp, parts: Sequence[Part], ids: dict[str, int], out_dir: Path,
            errors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each part's state and results (path documents, NEB and spacing records); writes each
    fill's run folder (path.json, path.extxyz, profile.png) under ``out_dir/runs``."""
    from nafill.workflows.fireworks.launchpad import SPACINGS_COLLECTION
    from nafill.workflows.fireworks.neb import NEB_COLLECTION
    from nafill.workflows.fireworks.runner import export_run, path_document, workflow_doc

    out = []
    for part in parts:
        wf_id = ids.get(part.key)
        rec: dict[str, Any] = {"part": part.as_dict(), "wf_id": wf_id, "state": None, "error": (errors or {}).get(part.key)}
        if part.waiting:
            rec["state"] = "WAITING FOR STEP 1"
            rec["error"] = (f"needs step 1's relaxed spacing for {part.layers} Na layers "
                            "(re-run the command once the spacing workflow has finished)")
            out.append(rec)
            continue
        if part.kind == "skipped":
            rec["state"], rec["error"] = "NOT RUN", part.error
            out.append(rec)
            continue
        if wf_id is None:
            rec["state"] = "NOT SUBMITTED"
            out.append(rec)
            continue
        wf = workflow_doc(lp, wf_id)  # a finished fill may have moved to the store's archive
        rec["state"] = wf["state"]
        if part.kind == "fill":
            path = path_document(lp, wf_id)
            rec["path"] = None if path is None else path.as_dict()
            if path is not None:
                if path.state.get("error") and not rec["error"]:
                    rec["error"] = path.state["error"]
                if path.steps:
                    slug = part.label.replace(" ", "_").replace("+", "-")
                    try:
                        export_run(lp, wf_id, out_dir / "runs" / slug)
                        rec["run_dir"] = f"runs/{slug}"
                    except Exception as exc:  # noqa: BLE001
                        log.warning("could not export %s: %s", part.label, exc)
        elif part.kind == "neb":
            doc = lp.db[NEB_COLLECTION].find_one({"key": part.key})
            rec["neb"] = None if doc is None else doc["result"]
        else:
            study = wf["metadata"].get("nafill_study")
            docs = lp.db[SPACINGS_COLLECTION].find({"study": study})
            rec["spacings"] = sorted(({"layers": d["layers"], "spacing_nm": d["spacing_nm"],
                                       "converged": d.get("converged"), "n_ionic_steps": d.get("n_ionic_steps"),
                                       "cost": d.get("cost")} for d in docs), key=lambda d: d["layers"])
        if rec["state"] == "FIZZLED" and not rec["error"]:
            rec["error"] = _fizzle_reason(lp, wf)
        rec["cost"], rec["cost_source"] = record_cost(rec)
        rec["launches"] = launch_record(lp, wf_id)
        out.append(rec)
    return out


def _fizzle_reason(lp, wf: dict) -> str:
    for fw_id in wf["nodes"]:
        fw = lp.fireworks.find_one({"fw_id": fw_id, "state": "FIZZLED"}, {"launches": 1, "name": 1})
        if fw and fw.get("launches"):
            launch = lp.launches.find_one({"launch_id": fw["launches"][-1]}, {"action": 1})
            stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
            exc = stored.get("_exception", {})
            msg = exc.get("_stacktrace", "").strip().splitlines()
            return f"{fw['name']}: {msg[-1] if msg else 'fizzled'}"
    return "FIZZLED"


@dataclass
class StudyOutcome:
    out_dir: Path
    parts: list[Part]
    ids: dict[str, int]
    records: list[dict[str, Any]]
    report: dict[str, Any] | None
    wall_s: float


def run_study(settings: StudySettings, out_dir, launchpad_file=None, run: bool = True, report: bool = True,
              echo: Callable[[str], None] = print, store=None) -> StudyOutcome:
    """Plan and print the bill, submit what is missing, run it here (``run``), write the report.

    ``run=False`` leaves the Fireworks for ``qlaunch``/``rlaunch``/``nafill run``; the report then
    shows what is finished so far (run the command again later to refresh it).
    """
    from nafill.workflows.fireworks.launchpad import describe_launchpad, open_launchpad
    from nafill.workflows.studies.report import write_report

    t0 = time.perf_counter()
    settings.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = study_tag(out_dir)
    found = settings.cavity_source == "found"

    def write_plan(parts, ids) -> None:
        atomic_write_text(out_dir / STUDY_FILE, json.dumps(
            {"tag": tag, "settings": settings.as_dict(),
             "parts": [dict(p.as_dict(), wf_id=ids.get(p.key)) for p in parts]}, indent=1))

    with open_launchpad(launchpad_file, store=store) as lp:
        parts = plan_parts(settings, tag, found_spacings(lp, plan_parts(settings, tag)) if found else None)
        echo(format_bill(parts, settings, measured_rates(lp, tag)))
        ids = submit_parts(lp, parts, settings, tag)
        echo(f"workflows on {describe_launchpad(lp)}: " + ", ".join(str(ids.get(p.key, "waiting")) for p in parts))
        write_plan(parts, ids)
        errors: dict[str, str] = {}
        if run:
            echo("running (kill and re-run the same command to resume):")
            done: set[str] = set()
            if any(p.waiting for p in parts):  # step 1 first, then the cavities at its spacings
                first = [p for p in parts if p.kind == "spacing"]
                errors.update(run_parts(lp, first, ids, out_dir / "launches", echo))
                done |= {p.key for p in first}
                parts = plan_parts(settings, tag, found_spacings(lp, parts))
                new = [p for p in runnable(parts) if p.key not in ids]
                if new:
                    echo("step 1 done; cavities at its spacings:\n" + format_bill(new, settings, measured_rates(lp, tag)))
                    ids.update(submit_parts(lp, new, settings, tag))
                    write_plan(parts, ids)
            errors.update(run_parts(lp, [p for p in runnable(parts) if p.key not in done], ids,
                                    out_dir / "launches", echo))
        records = collect(lp, parts, ids, out_dir, errors)
    echo(format_spent(study_cost(records)))
    doc = None
    if report:
        doc = write_report(records, settings, out_dir, wall_s=time.perf_counter() - t0)
        echo(f"wrote {out_dir / 'report.html'} and {out_dir / 'report.json'}")
    return StudyOutcome(out_dir, parts, ids, records, doc, time.perf_counter() - t0)
