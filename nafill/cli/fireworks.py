"""The FireWorks verbs: ``nafill submit`` (fill, orifice-scan, connected, spacing), ``nafill run``,
``nafill status`` and ``nafill export``."""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import click
from tqdm import tqdm

from nafill.cli.options import (
    OUT_DIR,
    calculator_options,
    ladder_options,
    launchpad_option,
    parse_calc_options,
)
from nafill.workflows.backends.registry import checked_backend
from nafill.workflows.engine.cli_runner import build_host
from nafill.workflows.engine.parallel import install_signal_handlers
from nafill.workflows.engine.store import check_out_dir, run_lock
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.fireworks.builders import connected_study_workflows, filling_workflow, orifice_scan_workflows
from nafill.workflows.fireworks.env import FWorker
from nafill.workflows.fireworks.launchpad import describe_launchpad, open_launchpad
from nafill.workflows.fireworks.runner import export_run, run_launchpad, workflow_status
from nafill.workflows.fireworks.spacing import spacing_workflow


@click.group()
def submit() -> None:
    """Add workflows to the LaunchPad (run them with `nafill run`, rlaunch or qlaunch)."""


def _policy_options(f):
    """Options shared by every `submit` verb, handed to the command as ``policy`` and ``submit_kw``."""
    @functools.wraps(f)
    def wrapper(*, max_na, n_candidates, prescreen, beam_width, coalesce_max, fmax_eV_A, seed, calculator, calc_option,
                batch_size, spec_items, screen_calculator, screen_options, screen_max, screen_margin_eV, screen_learn, **rest):
        policy = FillingPolicy(max_na=max_na, n_candidates=n_candidates, prescreen=prescreen or None,
                               beam_width=beam_width, coalesce_max=coalesce_max, fmax_eV_A=fmax_eV_A, seed=seed,
                               screen_calculator=screen_calculator, screen_max=screen_max,
                               screen_margin_eV=screen_margin_eV, screen_learn=screen_learn,
                               screen_options=parse_calc_options(screen_options, "--screen-option") or None)
        policy.validate()  # every value refused before anything is built or submitted
        options = parse_calc_options(calc_option)
        checked_backend(calculator, options)
        dataclasses.replace(policy).validate(backend=calculator)  # the screen resolved for it, its options tried
        submit_kw = dict(backend=calculator, backend_options=options,
                         modifications=parse_calc_options(spec_items))
        if batch_size is not None:
            submit_kw["batch_size"] = batch_size
        return f(policy=policy, submit_kw=submit_kw, **rest)

    w = wrapper
    w = click.option("--seed", type=int, default=0, show_default=True)(w)
    w = click.option("--fmax", "fmax_eV_A", type=float, default=None,
                     help="Force threshold, eV/A [default: 0.01 for vasp, 0.05 for the other backends].")(w)
    w = click.option("--nucleation-moves", "coalesce_max", type=int, default=4, show_default=True,
                     help="Also try gathering 1..N isolated Na onto a seed cluster; 0: off.")(w)
    w = click.option("--beam", "beam_width", type=int, default=1, show_default=True)(w)
    w = click.option("--prescreen", type=int, default=4, show_default=True,
                     help="Relax the best K by single point (0: all).")(w)
    w = click.option("--candidates", "n_candidates", type=int, default=64, show_default=True)(w)
    w = click.option("--max-na", type=int, default=None, help="Na per fill [default: capacity].")(w)
    w = calculator_options()(w)
    w = ladder_options(w)
    w = click.option("--batch-size", type=int, default=None,
                     help="Candidates per relax Firework [default: all for surrogates, 1 for VASP].")(w)
    w = click.option("--spec", "spec_items", multiple=True, metavar="KEY=JSON",
                     help="Spec entry added to every Firework, e.g. --spec _fworker='\"cluster\"'.")(w)
    return launchpad_option(w)


def _add(workflows, launchpad_file, store=None) -> None:
    with open_launchpad(launchpad_file, store=store) as lp:
        for wf in workflows:
            ids = lp.add_wf(wf)
            click.echo(f"added workflow {min(ids.values())}: {wf.name}")
        click.echo(f"on {describe_launchpad(lp)}")


@submit.command("fill")
@click.option("--spacing-nm", help="Cavity/orifice spacing, nm, or 2L..7L.")
@click.option("--host", "host_file", type=click.Path(dir_okay=False, path_type=Path), help="Host structure file.")
@_policy_options
def submit_fill(spacing_nm, host_file, launchpad_file, store, policy, submit_kw) -> None:
    """Add a filling workflow; prints its id."""
    if (spacing_nm is None) == (host_file is None):
        raise click.UsageError("give exactly one of --spacing-nm or --host")
    _add([filling_workflow(build_host(spacing_nm, host_file), policy=policy, **submit_kw)], launchpad_file, store)


@submit.command("orifice-scan")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Orifice spacings, nm: --spacings-nm 0.40 0.45 0.50 0.55")
@_policy_options
def submit_orifice_scan(spacings, launchpad_file, store, policy, submit_kw) -> None:
    """Add one filling workflow per orifice spacing."""
    _add(orifice_scan_workflows(list(spacings), policy=policy, **submit_kw), launchpad_file, store)


@submit.command("connected")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Section spacings, nm, narrow first: --spacings-nm 0.5 1.2 1.82")
@_policy_options
def submit_connected(spacings, launchpad_file, store, policy, submit_kw) -> None:
    """Add the widest cavity alone and the connected pore (the pre-nucleation comparison)."""
    _add(connected_study_workflows(list(spacings), policy=policy, **submit_kw), launchpad_file, store)


@submit.command("spacing")
@click.option("--layers", "layers", type=int, multiple=True, default=(2, 3, 4, 5, 6, 7), show_default=True,
              help="Na layer counts to relax (1..7): --layers 2 3 4.")
@_policy_options
def submit_spacing(layers, launchpad_file, store, policy, submit_kw) -> None:
    """Relax the k-Na-layer models (walls and Na), then fill each resulting cavity."""
    _add([spacing_workflow(list(layers), policy=policy, **submit_kw)], launchpad_file, store)


@click.command("run")
@launchpad_option
@click.option("--launch-dir", type=OUT_DIR, default=None,
              help="Folder for the launch directories [default: a temporary folder].")
@click.option("--fworker", "fworker_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FireWorker YAML (its env gives e.g. vasp_cmd to >>vasp_cmd<< options).")
@click.option("-q", "--quiet", is_flag=True)
def run_cmd(launchpad_file, store, launch_dir, fworker_file, quiet) -> None:
    """Launch ready Fireworks here until none is left (rapid-fire), with progress."""
    fworker = None
    if fworker_file is not None:
        if not fworker_file.is_file():
            raise click.BadParameter(f"{str(fworker_file)!r} does not exist", param_hint="'--fworker'")
        try:
            fworker = FWorker.from_file(str(fworker_file))
        except Exception as exc:  # noqa: BLE001 - YAML errors of many kinds
            raise click.BadParameter(f"{str(fworker_file)!r} is not a FireWorker YAML ({type(exc).__name__})",
                                     param_hint="'--fworker'") from None
    if launch_dir is not None:
        check_out_dir(launch_dir, "--launch-dir")
    install_signal_handlers()
    with open_launchpad(launchpad_file, store=store) as lp:
        bar = tqdm(unit="fw", disable=quiet, file=sys.stderr, desc="fireworks")
        try:
            n = run_launchpad(lp, launch_dir=launch_dir, on_launch=lambda _id: bar.update(1), fworker=fworker)
        finally:
            bar.close()
        click.echo(f"launched {n} Firework(s)")
        _print_status(workflow_status(lp))


def _print_status(rows) -> None:
    click.echo(f"{'wf':>4} {'state':<10} {'steps':>9} {'last H (eV)':>11}  name")
    for r in rows:
        h = "-" if r["last_H_eV"] is None else f"{r['last_H_eV']:.3f}"
        steps = f"{r['steps_done']}/{r['max_na'] if r['max_na'] is not None else '?'}"
        click.echo(f"{r['wf_id']:>4} {r['state']:<10} {steps:>9} {h:>11}  {r['name']}")
        if r["error"]:
            click.echo(f"     error: {r['error']}")
        if r.get("spacings_nm"):
            click.echo("     relaxed spacings: " + ", ".join(
                f"{k} layers -> {v:.3f} nm" for k, v in sorted(r["spacings_nm"].items())))


@click.command("status")
@launchpad_option
def status_cmd(launchpad_file, store) -> None:
    """List nafill workflows with their state and the steps done."""
    with open_launchpad(launchpad_file, store=store) as lp:
        _print_status(workflow_status(lp))


@click.command("export")
@click.argument("wf_id", type=int)
@click.option("--out", "out_dir", type=OUT_DIR, required=True,
              help="Run folder to write (path.json, path.extxyz, profile.png).")
@launchpad_option
def export_cmd(wf_id, out_dir, launchpad_file, store) -> None:
    """Write the run folder of workflow WF_ID from the results collection."""
    if wf_id < 1:
        raise click.BadParameter(f"{wf_id} must be a workflow id >= 1", param_hint="'WF_ID'")
    out_dir = check_out_dir(out_dir)
    with open_launchpad(launchpad_file, store=store) as lp, run_lock(out_dir):
        out = export_run(lp, wf_id, out_dir)
    click.echo(f"wrote {out}/path.json, path.extxyz, profile.png")
