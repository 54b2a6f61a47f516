"""``nafill fill``: the main job (validation, progress, table and plot are in
:mod:`nafill.workflows.engine.cli_runner`)."""

from __future__ import annotations

from pathlib import Path

import click

from nafill.cli.options import OUT_DIR, calculator_options, ladder_options, parse_calc_options
from nafill.workflows.engine.cli_runner import run_fill_cli


@click.command("fill")
@click.option("--spacing-nm", help="Build a cavity/orifice of this spacing, nm (0.30-5.0), or a standard "
              "cavity name 2L..7L. Alternative to --host.")
@click.option("--host", "host_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the empty host from a structure file (.vasp, .extxyz, .cif, .json).")
@click.option("--supercell", nargs=2, type=int, default=(4, 4), show_default=True,
              help="Lateral repetition of the graphene cell (with --spacing-nm).")
@click.option("--stacking", type=click.Choice(["AB", "AA"], case_sensitive=False), default="AB",
              show_default=True, help="Wall registry (with --spacing-nm).")
@calculator_options()
@ladder_options
@click.option("--max-na", type=int, default=None,
              help="Stop after this many Na [default: the pore's theoretical capacity].")
@click.option("--candidates", "n_candidates", type=int, default=64, show_default=True,
              help="Symmetry-distinct candidate sites considered per step.")
@click.option("--prescreen", type=int, default=4, show_default=True,
              help="Relax fully only the best K candidates (0: relax all).")
@click.option("--prescreen-steps", type=int, default=5, show_default=True,
              help="Rank candidates after this many steps relaxing the new Na alone (0: single points).")
@click.option("--beam", "beam_width", type=int, default=1, show_default=True,
              help="Keep the B lowest structures per step (1 = greedy lowest-enthalpy path).")
@click.option("--nucleation-moves", "coalesce_max", type=int, default=4, show_default=True,
              help="Also try gathering 1..N isolated Na onto a seed cluster (from the 3rd Na; every step "
                   "on the surrogate and under a screen, to 12 Na on the other backends); 0: off.")
@click.option("--fmax", "fmax_eV_A", type=float, default=None,
              help="Force threshold of the Na relaxations, eV/A [default: 0.01 for vasp (the "
                   "protocol's EDIFFG = -0.01), 0.05 for the other backends].")
@click.option("--max-relax-steps", type=int, default=300, show_default=True,
              help="Ionic steps allowed per relaxation.")
@click.option("--stop-rise-ev", "stop_rise_eV", type=float, default=None,
              help="Stop once H stays this many eV above its running minimum for --stop-patience "
                   "steps (off by default; set it above the expected nucleation barrier).")
@click.option("--stop-patience", type=int, default=3, show_default=True)
@click.option("--fill-order", type=click.Choice(["energy", "narrow-first"]), default="energy", show_default=True,
              help="Connected pores: energy = every site competes; narrow-first = the next Na goes to the "
                   "narrowest section not yet full (the published mechanism). No effect on other hosts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--workers", default="1", show_default=True,
              help="Processes relaxing candidates in parallel, or 'auto' (same path as serial).")
@click.option("--out", "out_dir", type=OUT_DIR, required=True,
              help="Output folder: path.json, path.extxyz, profile.png. An unfinished run there "
                   "is resumed.")
@click.option("--overwrite", is_flag=True, help="Discard a previous run in --out and start again.")
@click.option("--engine", type=click.Choice(["fireworks", "local"]), default="fireworks", show_default=True,
              help="fireworks: submit to the LaunchPad and run here (same path as on a cluster); "
                   "local: the in-process loop.")
@click.option("--launchpad", "launchpad_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="LaunchPad YAML of a real MongoDB [default: the embedded store, "
                                 "or $NAFILL_LAUNCHPAD].")
@click.option("--no-cache", is_flag=True, help="Recompute the reference energies.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or table.")
def fill_cmd(spacing_nm, host_file, supercell, stacking, calculator, calc_option, screen_calculator,
             screen_options, screen_max, screen_margin_eV, screen_learn, max_na,
             n_candidates, prescreen, prescreen_steps, beam_width, coalesce_max, fmax_eV_A, max_relax_steps, stop_rise_eV,
             stop_patience, fill_order, seed, workers, out_dir, overwrite, engine, launchpad_file, no_cache,
             quiet) -> None:
    """Fill a pore one Na at a time along the lowest-enthalpy path (the main job).

    Prints a per-step table (n, H in eV, step V in V, candidates) and the headline numbers, and
    writes path.json, path.extxyz and profile.png into --out. Interrupted runs resume when the
    same command is run again.
    """
    if (spacing_nm is None) == (host_file is None):
        raise click.UsageError("give exactly one of --spacing-nm or --host")
    run_fill_cli(
        spacing_nm=spacing_nm, host_file=host_file, supercell=tuple(supercell), stacking=stacking,
        calculator=calculator, calc_options=parse_calc_options(calc_option),
        policy_kwargs=dict(
            max_na=max_na, n_candidates=n_candidates, prescreen=prescreen or None,
            prescreen_steps=prescreen_steps, beam_width=beam_width, coalesce_max=coalesce_max, fmax_eV_A=fmax_eV_A,
            max_relax_steps=max_relax_steps,
            stop_rise_eV=stop_rise_eV, stop_patience=stop_patience, fill_order=fill_order, seed=seed,
            workers=workers,
            screen_calculator=screen_calculator, screen_max=screen_max, screen_margin_eV=screen_margin_eV,
            screen_learn=screen_learn, screen_options=parse_calc_options(screen_options, "--screen-option") or None,
        ),
        out_dir=out_dir, overwrite=overwrite, use_cache=not no_cache, quiet=quiet,
        engine=engine, launchpad_file=launchpad_file,
    )
