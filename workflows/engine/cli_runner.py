"""What ``nafill fill`` does around the engine: validate everything, fill (in process, or on the
LaunchPad through :func:`nafill.workflows.fireworks.runner.fill_on_launchpad`), show progress,
print the table and headline numbers, write the plot.

All input is checked (host, backend, policy, output folder) before any energy is computed or any
file written; then the run folder is locked (one writer at a time) for the whole run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from nafill.analysis.plots import plot_path
from nafill.analysis.profile import format_capacity
from nafill.constants import ORIFICE_RANGE_NM, TEST_ONLY_BACKENDS
from nafill.errors import NafillInputError
from nafill.io import read_structure
from nafill.structures.capacity import pore_capacity
from nafill.structures.pores import cavity, orifice, resolve_spacing_nm
from nafill.structures.validation import check_host
from nafill.workflows.backends.registry import checked_backend
from nafill.workflows.engine.documents import FillingPath
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.parallel import install_signal_handlers
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.store import PATH_EXTXYZ, PATH_JSON, PROFILE_PNG, RunStore, check_out_dir, run_lock
from nafill.workflows.fireworks.runner import fill_on_launchpad


def build_host(spacing_nm=None, host_file=None, supercell=(4, 4), stacking="AB", warn=True):
    """The empty host: a cavity/orifice of ``spacing_nm`` or the structure in ``host_file``,
    checked by :func:`nafill.structures.validation.check_host` (warnings go to stderr)."""
    if host_file is not None:
        host = read_structure(host_file)
        what = f"--host {str(host_file)!r}"
    else:
        for k in supercell:
            if int(k) < 1 or int(k) > 20:
                raise NafillInputError(f"--supercell = {' '.join(str(int(v)) for v in supercell)} must be two "
                                       "integers in [1, 20]")
        s = resolve_spacing_nm(spacing_nm)
        host = orifice(s, supercell, stacking) if s <= ORIFICE_RANGE_NM[1] else cavity(s, supercell, stacking)
        what = f"the {s:g} nm pore ({supercell[0]}x{supercell[1]} cell)"
    for w in check_host(host, what):
        if warn:
            click.echo(f"nafill: warning: {w}", err=True)
    return host


def _evals(cost: dict, name: str | None) -> str:
    return str(int(cost.get(name, {}).get("evaluations", 0))) if name else "-"


def format_table(path: FillingPath) -> str:
    """Per-step table: n, H (eV), V (V), distinct candidates, relaxed, site kind, energy+force
    evaluations of the fill's backend and of the screen (the cheap level), time of the step."""
    own = path.backend["name"]
    steps = path.step_records()
    cheap = next((s.ladder["cheap_backend"] for s in steps if s.ladder), None)
    head = f"{'n':>3} {'H (eV)':>9} {'V (V)':>8} {'cand':>5} {'relax':>5} {'fail':>4} {'site':<10} {'evals':>6}"
    head += f" {'screen':>7}" if cheap else ""
    lines = [head + f" {'t (s)':>7}"]
    for s in steps:
        line = (f"{s.n_na:>3} {s.formation_enthalpy_eV:9.3f} {s.step_voltage_V:8.3f} {s.n_candidates:>5} "
                f"{s.n_relaxed:>5} {s.n_failed:>4} {s.site_kind:<10} {_evals(s.cost, own):>6}")
        line += f" {_evals(s.cost, cheap):>7}" if cheap else ""
        lines.append(line + f" {s.elapsed_s or s.wall_s:7.2f}")
    foot = f"evals: energy+force evaluations of {own}"
    if cheap:
        foot += f"; screen: of the cheap level ({cheap}) that searched for it"
    return "\n".join(lines + [foot])


def format_headline(path: FillingPath) -> str:
    """The headline numbers of a path, with the definitions they use."""
    sm = path.summary
    nuc = sm.get("nucleation") or {}
    ref = path.reference
    out = [
        f"backend {path.backend['name']}: mu_Na = {ref['mu_na_eV']:.4f} eV/atom "
        f"(bcc a = {ref['bcc_lattice_A']:.3f} A), E(host) = {ref['e_host_eV']:.4f} eV",
        f"steps: {sm.get('n_steps', 0)}, final H({sm.get('n_na_final', 0)}) = "
        f"{sm.get('formation_enthalpy_final_eV', float('nan')):.3f} eV, "
        f"min H = {sm.get('formation_enthalpy_min_eV', float('nan')):.3f} eV",
    ]
    if nuc.get("status") == "barrier":
        out.append(f"nucleation barrier: {nuc['barrier_eV']:.3f} eV at critical size n* = "
                   f"{nuc['critical_size']} (H falls by > {nuc['tol_eV']} eV at n = {nuc['nucleation_at']})")
    elif nuc.get("status") == "barrierless":
        out.append("nucleation barrier: none (H falls from the first Na)")
    else:
        out.append("nucleation barrier: not crossed (H never falls along this path)")
    study = sm.get("practical_capacity_study") or {}
    strict = sm.get("practical_capacity") or {}
    if study:
        out.append(f"capacity (study reading): {format_capacity(study['na'], study['at_least'], study['reason'])}"
                   f" - {study['rule']}")
    out.append(
        f"capacity (strict reading): {format_capacity(sm.get('practical_capacity_na', 0), strict.get('at_least', False), strict.get('reason', ''))}"
        f" (largest x at the global minimum of H, if H < 0); theoretical {sm.get('theoretical_capacity_na')} Na (bcc density)"
    )
    cost = sm.get("cost") or {}
    spent = "; ".join(f"{name} {int(c['evaluations'])} evaluations in {int(c['relaxations'])} relaxations "
                      f"and {int(c['single_points'])} single points" for name, c in cost.items())
    per_na = sm.get("evaluations_per_na")
    out.append(f"cost: {spent or 'none recorded'}"
               + (f" ({per_na:.1f} {path.backend['name']} evaluations per Na)" if per_na is not None else ""))
    out.append(f"elapsed {sm.get('elapsed_s', sm.get('wall_s', 0)):.1f} s; stopped: {sm.get('stop_reason')}")
    caveat = TEST_ONLY_BACKENDS.get(path.backend["name"])
    if caveat:
        out.insert(0, f"CAVEAT: {caveat}")
    return "\n".join(out)


def run_fill_cli(
    spacing_nm, host_file, supercell, stacking, calculator: str, calc_options: dict[str, Any],
    policy_kwargs: dict[str, Any], out_dir: Path, overwrite: bool, use_cache: bool, quiet: bool,
    engine: str = "fireworks", launchpad_file=None,
) -> FillingPath:
    """Validate, run (or resume) a fill with a progress bar, print the summary, write the plot.

    ``engine="fireworks"`` (default) submits the fill to the LaunchPad (embedded unless
    ``launchpad_file``) and runs it here, so laptop and cluster runs share one code path;
    ``engine="local"`` runs the in-process loop.
    """
    t_start = time.perf_counter()
    if engine not in ("fireworks", "local"):
        raise NafillInputError(f"engine = {engine!r} must be 'fireworks' or 'local'")
    host = build_host(spacing_nm, host_file, supercell, stacking)
    backend = checked_backend(calculator, calc_options)
    policy = FillingPolicy(**policy_kwargs).validate(pore_capacity(host), backend)
    if engine == "fireworks":
        from nafill.workflows.fireworks.launchpad import launchpad_file_from_env

        launchpad_file_from_env(launchpad_file)  # a missing --launchpad file is refused now
    out_dir = check_out_dir(out_dir)
    install_signal_handlers()  # SIGTERM/SIGINT: pools reaped, lock released, store written
    with run_lock(out_dir):
        return _run_locked(host, policy, backend, calculator, calc_options, out_dir, overwrite, use_cache,
                           quiet, engine, launchpad_file, t_start)


def _run_locked(host, policy, backend, calculator, calc_options, out_dir: Path, overwrite, use_cache, quiet,
                engine, launchpad_file, t_start: float) -> FillingPath:
    existing = None
    if overwrite:
        for name in (PATH_JSON, PATH_EXTXYZ, PROFILE_PNG):
            (out_dir / name).unlink(missing_ok=True)
    else:
        rs = RunStore(out_dir)
        existing = rs.load_for_resume(host, backend, policy)  # refuses a different run
        if rs.kept_more_steps is not None:
            click.echo(f"nafill: note: {str(out_dir)!r} already holds {rs.kept_more_steps} steps, more than "
                       f"--max-na {policy.max_na}; keeping them all (nothing to compute)", err=True)

    bar = tqdm(total=policy.max_na, unit="Na", disable=quiet, file=sys.stderr, desc="filling")

    def on_step(n_na: int, h: float | None = None, v: float | None = None) -> None:
        bar.n = n_na
        if h is not None:
            bar.set_postfix(H=f"{h:.2f} eV", V=f"{v:.2f} V")
        bar.refresh()

    try:
        if engine == "local":
            path = fill(host, backend, policy, out_dir=out_dir, use_cache=use_cache,
                        on_step=lambda r, p: on_step(r.n_na, r.formation_enthalpy_eV, r.step_voltage_V))
        else:
            path = fill_on_launchpad(host, calculator, calc_options, policy, out_dir, overwrite,
                                       launchpad_file, on_step, existing=existing)
    finally:
        bar.close()
    png = plot_path(path, out_dir / PROFILE_PNG)
    if not quiet:
        click.echo(format_table(path))
        click.echo("")
    click.echo(format_headline(path))
    click.echo(f"this command took {time.perf_counter() - t_start:.1f} s (references, engine and plot included)")
    click.echo(f"wrote {out_dir / PATH_JSON}, {out_dir / PATH_EXTXYZ}, {png}")
    return path
