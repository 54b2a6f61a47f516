"""``nafill study``: the whole closed-pore study in one command (FireWorks), with its report."""

from __future__ import annotations

from pathlib import Path

import click

from nafill.cli.options import calculator_options, launchpad_option, parse_calc_options
from nafill.errors import NafillInputError


def _floats(values: tuple[str, ...], name: str) -> list[float] | None:
    if not values:
        return None
    out = []
    for v in values:
        for x in str(v).replace(",", " ").split():
            try:
                out.append(float(x))
            except ValueError:
                raise NafillInputError(f"{name} = {x!r} must be a number (nm)") from None
    return out


@click.command("study")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Study folder: report.html, report.json, study.json, runs/ (one run folder per fill).")
@calculator_options(help="Energy backend, any name `nafill fill` accepts (emt, mlip, vasp, module:factory, ...).")
@launchpad_option
@click.option("--only", "only", multiple=True, metavar="STEP[,STEP]",
              help="Run only these steps (repeatable or comma separated): spacing, cavities, orifices, connected, "
                   "neb, capacities [default: all].")
@click.option("--reduced", is_flag=True, help="CI-sized study: two cavities, two orifices, one connected pair, "
                                              "one NEB spacing, small caps.")
@click.option("--cavities", "cavity_source", type=click.Choice(["published", "found"]), default="published",
              show_default=True,
              help="Cavity sizes to fill: the published spacings (or --cavities-nm), or the spacings step 1 "
                   "relaxed for each --layers count (step 1 then always runs, first).")
@click.option("--cavities-nm", multiple=True, metavar="NM[,NM]", help="Cavity sizes, nm [default: 0.82 1.05 1.19 1.48 1.82 2.18].")
@click.option("--orifices-nm", multiple=True, metavar="NM[,NM]", help="Orifice spacings, nm [default: 0.375-0.70].")
@click.option("--connected-nm", multiple=True, metavar="NM,NM",
              help="A connected pore, narrow first, e.g. 0.5,1.2 (repeatable) [default: the four published pairs].")
@click.option("--neb-nm", multiple=True, metavar="NM[,NM]", help="Orifice NEB spacings, nm [default: 0.40 0.45 0.50 0.55].")
@click.option("--layers", multiple=True, type=int, help="Na layer counts of the spacing step [default: 2-7].")
@click.option("--max-na", "cavity_max_na", type=int, default=None,
              help="Cap on the Na of each cavity fill [default: its theoretical capacity; the stop rule ends it earlier].")
@click.option("--connected-max-na", type=int, default=None, help="Cap on the Na of each connected-pore fill [default: 40].")
@click.option("--sharp-rise-v", "sharp_rise_V", type=float, default=None,
              help="Study reading / stop rule: a step voltage below minus this (V) is a sharp rise [default: 0.25].")
@click.option("--valence", type=float, default=None,
              help="Assumed Na valence, e/Na, for mAh/g without Bader charges [default: 0.90, from the published 501 mAh/g].")
@click.option("--candidates", "n_candidates", type=int, default=None, help="Candidate sites per step [default: the policy's].")
@click.option("--submit-only", is_flag=True, help="Submit and print the bill; leave the Fireworks for qlaunch/rlaunch/nafill run.")
@click.option("--report-only", is_flag=True, help="Launch nothing; write the report from what has finished.")
@click.option("--yes", is_flag=True, hidden=True)
def study_cmd(out_dir, calculator, calc_option, launchpad_file, store, only, reduced, cavity_source, cavities_nm, orifices_nm, connected_nm,
              neb_nm, layers, cavity_max_na, connected_max_na, sharp_rise_V, valence, n_candidates, submit_only,
              report_only, yes) -> None:
    """Reproduce the closed-pore study: spacings (2-7 Na layers), cavity fills (0.82-2.18 nm) to the
    practical limit plus a margin, orifice fills (0.375-0.70 nm), connected pores against their
    isolated cavities, orifice diffusion barriers (0.40-0.55 nm) and capacities (Na, mAh/g).

    Prints the bill first, submits the workflows (once: re-running resumes, finished parts are not
    recomputed), runs them here and writes OUT/report.html and OUT/report.json with the claims table.
    Sizes in nm, energies in eV, voltages in V, capacities in Na and mAh/g.
    """
    from nafill.workflows.studies.study import StudySettings, run_study

    kw = {"calculator": calculator, "calc_options": parse_calc_options(calc_option), "cavity_source": cavity_source}
    if cavity_source == "found" and cavities_nm:
        raise NafillInputError("--cavities found fills the spacings step 1 finds; leave out --cavities-nm "
                               "(or use --cavities published)")
    if only:
        kw["steps"] = [s.strip() for o in only for s in o.split(",") if s.strip()]
    for name, vals in (("cavities_nm", cavities_nm), ("orifices_nm", orifices_nm), ("neb_nm", neb_nm)):
        got = _floats(vals, name)
        if got is not None:
            kw[name] = got
    if connected_nm:
        kw["connected_nm"] = [_floats((c,), "connected_nm") for c in connected_nm]
    if layers:
        kw["layers"] = list(layers)
    for name, val in (("cavity_max_na", cavity_max_na), ("connected_max_na", connected_max_na),
                      ("sharp_rise_V", sharp_rise_V), ("valence", valence)):
        if val is not None:
            kw[name] = val
    settings = StudySettings.reduced_settings(**kw) if reduced else StudySettings(**kw)
    if n_candidates is not None:
        settings.policy = {**settings.policy, "n_candidates": n_candidates}
    outcome = run_study(settings, out_dir, launchpad_file, store=store, run=not (submit_only or report_only),
                        report=not submit_only, echo=click.echo)
    if submit_only:
        click.echo("submitted; run them with `nafill run`, rlaunch or qlaunch, then `nafill study ... --report-only`")
        return
    failed = [r for r in outcome.records if r["state"] != "COMPLETED"]
    if failed:
        click.echo(f"{len(failed)} part(s) not completed: " + ", ".join(f"{r['part']['label']} ({r['state']})" for r in failed))
    click.echo(f"study wall time {outcome.wall_s:.0f} s")
