"""The local runner behind ``nafill fill``: validate everything, fill, print, plot.

All input is checked (host, backend, policy, output folder) before any energy is computed.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from nafill.errors import NafillInputError
from nafill.workflows.documents import FillingPath, StepRecord

log = logging.getLogger(__name__)


def build_host(spacing_nm=None, host_file=None, supercell=(4, 4), stacking="AB"):
    """The empty host: a cavity/orifice of ``spacing_nm`` or the structure in ``host_file``."""
    from nafill.constants import ORIFICE_RANGE_NM
    from nafill.io import read_structure
    from nafill.structures.pores import resolve_spacing_nm, cavity, orifice

    if host_file is not None:
        return read_structure(host_file)
    s = resolve_spacing_nm(spacing_nm)
    if s <= ORIFICE_RANGE_NM[1]:
        return orifice(s, supercell, stacking)
    return cavity(s, supercell, stacking)


def format_table(path: FillingPath) -> str:
    """Per-step table: n, H (eV), V (V), distinct candidates, relaxed, site kind, wall time."""
    lines = [f"{'n':>3} {'H (eV)':>9} {'V (V)':>8} {'cand':>5} {'relax':>5} {'fail':>4} {'site':<10} {'t (s)':>6}"]
    for s in path.step_records():
        lines.append(
            f"{s.n_na:>3} {s.formation_enthalpy_eV:9.3f} {s.step_voltage_V:8.3f} {s.n_candidates:>5} "
            f"{s.n_relaxed:>5} {s.n_failed:>4} {s.site_kind:<10} {s.wall_s:6.2f}"
        )
    return "\n".join(lines)


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
    out.append(
        f"capacity: practical {sm.get('practical_capacity_na')} Na (largest x at the global minimum "
        f"of H, H < 0), theoretical {sm.get('theoretical_capacity_na')} Na (bcc density)"
    )
    out.append(f"relaxations: {sm.get('n_relaxations')}, wall time {sm.get('wall_s', 0):.1f} s; "
               f"stopped: {sm.get('stop_reason')}")
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
    from tqdm import tqdm

    from nafill.analysis.plots import plot_path
    from nafill.structures.capacity import pore_capacity
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.filling import FillingPolicy, fill
    from nafill.workflows.store import PATH_EXTXYZ, PATH_JSON, PROFILE_PNG, RunStore

    if engine not in ("fireworks", "local"):
        raise NafillInputError(f"engine = {engine!r} must be 'fireworks' or 'local'")
    host = build_host(spacing_nm, host_file, supercell, stacking)
    policy = FillingPolicy(**policy_kwargs).validate(pore_capacity(host))
    backend = get_backend(calculator, **calc_options)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NafillInputError(f"--out = {str(out_dir)!r} exists and is not a folder")
    if overwrite:
        for name in (PATH_JSON, PATH_EXTXYZ, PROFILE_PNG):
            (out_dir / name).unlink(missing_ok=True)
    else:
        RunStore(out_dir).load_for_resume(host, backend, policy)  # refuses a different run

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
            path = _fill_via_fireworks(host, calculator, calc_options, policy, out_dir, overwrite,
                                       launchpad_file, on_step)
    finally:
        bar.close()
    png = plot_path(path, out_dir / PROFILE_PNG)
    if not quiet:
        click.echo(format_table(path))
        click.echo("")
    click.echo(format_headline(path))
    click.echo(f"wrote {out_dir / PATH_JSON}, {out_dir / PATH_EXTXYZ}, {png}")
    return path


def _fill_via_fireworks(host, calculator, calc_options, policy, out_dir: Path, overwrite: bool,
                        launchpad_file, on_step) -> FillingPath:
    """Submit (or find again) this fill on the LaunchPad, run it here, export the run folder."""
    from nafill.errors import NafillRunError
    from nafill.workflows.fw_runner import find_workflow, path_document, run_launchpad
    from nafill.workflows.fw_workflows import fill_key, filling_workflow
    from nafill.workflows.launchpad import open_launchpad
    from nafill.workflows.store import RunStore

    key = fill_key(host, {"name": calculator, "options": calc_options}, policy, tag=str(out_dir.resolve()))
    with open_launchpad(launchpad_file) as lp:
        wf_doc = find_workflow(lp, key)
        if wf_doc is not None and overwrite:
            lp.delete_wf(min(wf_doc["nodes"]), delete_launch_dirs=False)
            wf_doc = None
        if wf_doc is None:
            wf = filling_workflow(host, calculator, calc_options, policy, key=key)
            wf_id = min(lp.add_wf(wf).values())
        else:
            wf_id = min(wf_doc["nodes"])
            log.info("resuming workflow %s (%s)", wf_id, wf_doc["state"])
        store = RunStore(out_dir)
        last = {"n": -1}

        def on_launch(_fw_id: int) -> None:
            path = path_document(lp, wf_id)
            if path is not None and len(path.steps) != last["n"]:
                last["n"] = len(path.steps)
                store.save(path)
                if path.steps:
                    s = path.steps[-1]
                    on_step(s["n_na"], s["formation_enthalpy_eV"], s["step_voltage_V"])

        on_launch(0)
        # launch folders (and e.g. VASP run folders inside them) are kept with the run
        run_launchpad(lp, wf_id, launch_dir=out_dir / "launches", on_launch=on_launch)
        path = path_document(lp, wf_id)
        state = lp.workflows.find_one({"nodes": wf_id})["state"]
        if path is None or not path.state.get("finished"):
            error = (path.state.get("error") if path else None) or f"workflow {wf_id} is {state}"
            if path is not None:
                store.save(path)
            raise NafillRunError(f"the fill did not finish: {error}")
        store.save(path)
        return path
