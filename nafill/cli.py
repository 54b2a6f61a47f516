"""The ``nafill`` command line.

Units: pore sizes and spacings in nm (``--spacing-nm``), lengths inside structures in A, energies
in eV, voltages in V, capacities in Na per cell or mAh/g. Every verb has ``--help``.
Bad arguments exit with status 2 and a one-line message naming the argument.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from nafill import __version__
from nafill.errors import NafillInputError, NafillRunError, is_number

log = logging.getLogger("nafill")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler()
    handler.setLevel(level)  # FireWorks' loggers are DEBUG and propagate: filter at the handler
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nafill")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """nafill: sodium nucleation in the closed pores of hard carbon.

    Build pore models, fill them one Na at a time along the lowest-enthalpy path, and analyse
    the formation-enthalpy profiles. Pore sizes are in nm, structures in A, energies in eV.
    """
    _setup_logging(verbose)


# ------------------------------------------------------------------------------------ build
@cli.group()
def build() -> None:
    """Build pore models and write them to a structure file.

    The format follows the output extension: .vasp (POSCAR, selective dynamics freezing the
    carbon), .extxyz, .cif or .json.
    """


def _common_bilayer_options(f):
    f = click.option("--vacuum-a", "vacuum_A", type=float, default=15.0, show_default=True,
                     help="Vacuum between the outer faces of the walls, A.")(f)
    f = click.option("--stacking", type=click.Choice(["AB", "AA"], case_sensitive=False),
                     default="AB", show_default=True, help="Registry of the two graphene walls.")(f)
    f = click.option("--supercell", nargs=2, type=int, default=(4, 4), show_default=True,
                     help="Lateral n m repetition of the graphene cell (4 4: 64 C, a = 9.84 A).")(f)
    return f


def _output_option(f):
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        required=True, help="Output file; the format follows the extension.")(f)


def _write(atoms, output: Path) -> None:
    from nafill.io import structure_format, write_structure

    structure_format(output)  # refuse an unknown extension before anything is written
    write_structure(atoms, output)
    click.echo(f"wrote {output} ({atoms.get_chemical_formula()}, {len(atoms)} atoms)")


@build.command("cavity")
@click.option("--spacing-nm", required=True,
              help="Wall-to-wall spacing between the carbon planes, nm (0.30-5.0), or a standard "
                   "cavity name 2L..7L (0.82, 1.05, 1.19, 1.48, 1.82, 2.18 nm).")
@_common_bilayer_options
@_output_option
def build_cavity(spacing_nm: str, supercell, stacking: str, vacuum_A: float, output: Path) -> None:
    """A cavity: two parallel graphene walls (Na clusters grow here)."""
    from nafill.structures.pores import cavity

    _write(cavity(spacing_nm, tuple(supercell), stacking, vacuum_A), output)


@build.command("orifice")
@click.option("--spacing-nm", type=float, required=True,
              help="Wall spacing, nm (usual orifices 0.37-0.7; accepted 0.30-5.0).")
@_common_bilayer_options
@_output_option
def build_orifice(spacing_nm: float, supercell, stacking: str, vacuum_A: float, output: Path) -> None:
    """An orifice: a narrow slit where single Na intercalate between the walls."""
    from nafill.structures.pores import orifice

    _write(orifice(spacing_nm, tuple(supercell), stacking, vacuum_A), output)


@build.command("na-layers")
@click.option("--layers", type=int, required=True, help="Number of bcc(110) Na layers, 1..7.")
@click.option("--lattice-a", "lattice_A", type=float, default=4.23, show_default=True,
              help="bcc Na lattice constant, A.")
@_common_bilayer_options
@_output_option
def build_na_layers(layers: int, lattice_A: float, supercell, stacking: str, vacuum_A: float,
                    output: Path) -> None:
    """Bilayer with k layers of bcc Na (starting model for a cavity-spacing relaxation)."""
    from nafill.structures.na_layers import na_layers_model

    atoms = na_layers_model(layers, tuple(supercell), stacking, lattice_A, vacuum_A=vacuum_A)
    _write(atoms, output)
    click.echo(
        f"{atoms.info['na_per_layer']} Na per layer, in-plane strain "
        f"{100 * atoms.info['na_in_plane_strain']:.1f} %, spacing {atoms.info['spacing_nm']:.3f} nm"
    )


@build.command("connected")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Section spacings, nm, narrow first (2-4 values): --spacings-nm 0.5 1.2 1.82.")
@click.option("--width-a", "width_A", type=float, default=15.0, show_default=True,
              help="Width of each section along x, A.")
@click.option("--ny", type=int, default=3, show_default=True,
              help="Rectangular graphene cells along y (4.26 A each).")
@click.option("--stacking", type=click.Choice(["AB", "AA"], case_sensitive=False), default="AB",
              show_default=True)
@_output_option
def build_connected(spacings, width_A: float, ny: int, stacking: str, output: Path) -> None:
    """A stage-wise pore: sections of increasing spacing (nm), narrow first.

    Example: nafill build connected --spacings-nm 0.5 1.2 1.82 -o pore.extxyz
    """
    from nafill.structures.connected import connected_pore

    _write(connected_pore(list(spacings), width_A, ny, stacking), output)


@build.command("sites")
@click.argument("structure", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for neighbour directions.")
@click.option("--no-symmetry", is_flag=True, help="Do not merge symmetry-equivalent sites.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def build_sites(structure: Path, seed: int, no_symmetry: bool, as_json: bool) -> None:
    """Print the candidate sites for the next Na in STRUCTURE (counts before/after merging)."""
    from nafill.io import read_structure
    from nafill.structures.sites import candidate_sites

    atoms = read_structure(structure)
    sites = candidate_sites(atoms, seed=seed, use_symmetry=not no_symmetry)
    summary = sites.summary()
    if as_json:
        summary["sites"] = [
            {"kind": k, "multiplicity": m, "position_A": [round(float(x), 6) for x in p]}
            for k, m, p in zip(sites.kinds, sites.multiplicity, sites.positions)
        ]
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(
        f"{summary['n_proposed']} proposed, {summary['n_rejected']} rejected (outside the pore or too "
        f"close), {summary['n_duplicates']} duplicates merged -> {summary['n_before_symmetry']} sites; "
        f"{summary['n_symmetry_merged']} merged by symmetry ({summary['n_symmetry_ops']} operations) "
        f"-> {summary['n_distinct']} distinct"
    )
    click.echo(f"{'#':>3} {'kind':<10} {'mult':>4} {'x (A)':>9} {'y (A)':>9} {'z (A)':>9}")
    for n, (k, m, p) in enumerate(zip(sites.kinds, sites.multiplicity, sites.positions)):
        click.echo(f"{n:>3} {k:<10} {m:>4} {p[0]:9.3f} {p[1]:9.3f} {p[2]:9.3f}")


# ------------------------------------------------------------------------------------ fill
def _parse_calc_options(options: tuple[str, ...]) -> dict:
    out = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} must be KEY=VALUE", param_hint="'--calc-option'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@cli.command("fill")
@click.option("--spacing-nm", help="Build a cavity/orifice of this spacing, nm (0.30-5.0), or a standard "
              "cavity name 2L..7L. Alternative to --host.")
@click.option("--host", "host_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the empty host from a structure file (.vasp, .extxyz, .cif, .json).")
@click.option("--supercell", nargs=2, type=int, default=(4, 4), show_default=True,
              help="Lateral repetition of the graphene cell (with --spacing-nm).")
@click.option("--stacking", type=click.Choice(["AB", "AA"], case_sensitive=False), default="AB",
              show_default=True, help="Wall registry (with --spacing-nm).")
@click.option("--calculator", default="emt", show_default=True,
              help="Energy backend: emt (surrogate), mlip (SevenNet, needs nafill[mlip]) or "
                   "module:factory (any ASE calculator).")
@click.option("--calc-option", multiple=True, metavar="KEY=VALUE",
              help="Backend option (JSON value), repeatable, e.g. --calc-option dispersion=\"d3-zero\".")
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
@click.option("--fmax", "fmax_eV_A", type=float, default=0.05, show_default=True,
              help="Force threshold of the Na relaxations, eV/A.")
@click.option("--max-relax-steps", type=int, default=300, show_default=True,
              help="Ionic steps allowed per relaxation.")
@click.option("--stop-rise-ev", "stop_rise_eV", type=float, default=None,
              help="Stop once H stays this many eV above its running minimum for --stop-patience "
                   "steps (off by default; set it above the expected nucleation barrier).")
@click.option("--stop-patience", type=int, default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--workers", default="1", show_default=True,
              help="Processes relaxing candidates in parallel, or 'auto' (same path as serial).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
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
def fill_cmd(spacing_nm, host_file, supercell, stacking, calculator, calc_option, max_na,
             n_candidates, prescreen, prescreen_steps, beam_width, fmax_eV_A, max_relax_steps, stop_rise_eV,
             stop_patience, seed, workers, out_dir, overwrite, engine, launchpad_file, no_cache,
             quiet) -> None:
    """Fill a pore one Na at a time along the lowest-enthalpy path (the main job).

    Prints a per-step table (n, H in eV, step V in V, candidates) and the headline numbers, and
    writes path.json, path.extxyz and profile.png into --out. Interrupted runs resume when the
    same command is run again.
    """
    from nafill.workflows.runner import run_fill_cli

    if (spacing_nm is None) == (host_file is None):
        raise click.UsageError("give exactly one of --spacing-nm or --host")
    run_fill_cli(
        spacing_nm=spacing_nm, host_file=host_file, supercell=tuple(supercell), stacking=stacking,
        calculator=calculator, calc_options=_parse_calc_options(calc_option),
        policy_kwargs=dict(
            max_na=max_na, n_candidates=n_candidates, prescreen=prescreen or None,
            prescreen_steps=prescreen_steps, beam_width=beam_width, fmax_eV_A=fmax_eV_A, max_relax_steps=max_relax_steps,
            stop_rise_eV=stop_rise_eV, stop_patience=stop_patience, seed=seed,
            workers=workers if workers == "auto" else int(workers) if workers.isdigit() else workers,
        ),
        out_dir=out_dir, overwrite=overwrite, use_cache=not no_cache, quiet=quiet,
        engine=engine, launchpad_file=launchpad_file,
    )


# ------------------------------------------------------------------------------------ FireWorks
_launchpad_option = click.option(
    "--launchpad", "launchpad_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="LaunchPad YAML of a real MongoDB [default: $NAFILL_LAUNCHPAD, else the embedded store "
         "~/.nafill/launchpad_store.json].")


@cli.group()
def submit() -> None:
    """Add workflows to the LaunchPad (run them with `nafill run`, rlaunch or qlaunch)."""


def _policy_options(f):
    """Options shared by every `submit` verb, handed to the command as ``policy`` and ``submit_kw``."""
    import functools

    @functools.wraps(f)
    def wrapper(*, max_na, n_candidates, prescreen, beam_width, fmax_eV_A, seed, calculator, calc_option,
                batch_size, spec_items, **rest):
        from nafill.workflows.filling import FillingPolicy

        policy = FillingPolicy(max_na=max_na, n_candidates=n_candidates, prescreen=prescreen or None,
                               beam_width=beam_width, fmax_eV_A=fmax_eV_A, seed=seed)
        submit_kw = dict(backend=calculator, backend_options=_parse_calc_options(calc_option),
                         modifications=_parse_calc_options(spec_items))
        if batch_size is not None:
            submit_kw["batch_size"] = batch_size
        return f(policy=policy, submit_kw=submit_kw, **rest)

    w = wrapper
    w = click.option("--seed", type=int, default=0, show_default=True)(w)
    w = click.option("--fmax", "fmax_eV_A", type=float, default=0.05, show_default=True,
                     help="Force threshold, eV/A.")(w)
    w = click.option("--beam", "beam_width", type=int, default=1, show_default=True)(w)
    w = click.option("--prescreen", type=int, default=4, show_default=True,
                     help="Relax the best K by single point (0: all).")(w)
    w = click.option("--candidates", "n_candidates", type=int, default=64, show_default=True)(w)
    w = click.option("--max-na", type=int, default=None, help="Na per fill [default: capacity].")(w)
    w = click.option("--calc-option", multiple=True, metavar="KEY=VALUE", help="Backend option.")(w)
    w = click.option("--calculator", default="emt", show_default=True, help="emt, mlip, vasp or module:factory.")(w)
    w = click.option("--batch-size", type=int, default=None,
                     help="Candidates per relax Firework [default: all for surrogates, 1 for VASP].")(w)
    w = click.option("--spec", "spec_items", multiple=True, metavar="KEY=JSON",
                     help="Spec entry added to every Firework, e.g. --spec _fworker='\"cluster\"'.")(w)
    return _launchpad_option(w)


def _add(workflows, launchpad_file) -> None:
    from nafill.workflows.launchpad import describe_launchpad, open_launchpad

    with open_launchpad(launchpad_file) as lp:
        for wf in workflows:
            ids = lp.add_wf(wf)
            click.echo(f"added workflow {min(ids.values())}: {wf.name}")
        click.echo(f"on {describe_launchpad(lp)}")


@submit.command("fill")
@click.option("--spacing-nm", help="Cavity/orifice spacing, nm, or 2L..7L.")
@click.option("--host", "host_file", type=click.Path(dir_okay=False, path_type=Path), help="Host structure file.")
@_policy_options
def submit_fill(spacing_nm, host_file, launchpad_file, policy, submit_kw) -> None:
    """Add a filling workflow; prints its id."""
    from nafill.workflows.fw_workflows import filling_workflow
    from nafill.workflows.runner import build_host

    if (spacing_nm is None) == (host_file is None):
        raise click.UsageError("give exactly one of --spacing-nm or --host")
    _add([filling_workflow(build_host(spacing_nm, host_file), policy=policy, **submit_kw)], launchpad_file)


@submit.command("orifice-scan")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Orifice spacings, nm: --spacings-nm 0.40 0.45 0.50 0.55")
@_policy_options
def submit_orifice_scan(spacings, launchpad_file, policy, submit_kw) -> None:
    """Add one filling workflow per orifice spacing."""
    from nafill.workflows.fw_workflows import orifice_scan_workflows

    _add(orifice_scan_workflows(list(spacings), policy=policy, **submit_kw), launchpad_file)


@submit.command("connected")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Section spacings, nm, narrow first: --spacings-nm 0.5 1.2 1.82")
@_policy_options
def submit_connected(spacings, launchpad_file, policy, submit_kw) -> None:
    """Add the widest cavity alone and the connected pore (the pre-nucleation comparison)."""
    from nafill.workflows.fw_workflows import connected_study_workflows

    _add(connected_study_workflows(list(spacings), policy=policy, **submit_kw), launchpad_file)


@submit.command("spacing")
@click.option("--layers", "layers", type=int, multiple=True, default=(2, 3, 4, 5, 6, 7), show_default=True,
              help="Na layer counts to relax (1..7): --layers 2 3 4.")
@_policy_options
def submit_spacing(layers, launchpad_file, policy, submit_kw) -> None:
    """Relax the k-Na-layer models (walls and Na), then fill each resulting cavity."""
    from nafill.workflows.fw_workflows import spacing_workflow

    _add([spacing_workflow(list(layers), policy=policy, **submit_kw)], launchpad_file)


@cli.command("run")
@_launchpad_option
@click.option("--launch-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the launch directories [default: a temporary folder].")
@click.option("--fworker", "fworker_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FireWorker YAML (its env gives e.g. vasp_cmd to >>vasp_cmd<< options).")
@click.option("-q", "--quiet", is_flag=True)
def run_cmd(launchpad_file, launch_dir, fworker_file, quiet) -> None:
    """Launch ready Fireworks here until none is left (rapid-fire), with progress."""
    from tqdm import tqdm

    from nafill.workflows.fw_runner import run_launchpad, workflow_status
    from nafill.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad_file) as lp:
        bar = tqdm(unit="fw", disable=quiet, file=sys.stderr, desc="fireworks")
        try:
            fworker = None
            if fworker_file is not None:
                from fireworks import FWorker

                fworker = FWorker.from_file(str(fworker_file))
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


@cli.command("status")
@_launchpad_option
def status_cmd(launchpad_file) -> None:
    """List nafill workflows with their state and the steps done."""
    from nafill.workflows.fw_runner import workflow_status
    from nafill.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad_file) as lp:
        _print_status(workflow_status(lp))


@cli.command("export")
@click.argument("wf_id", type=int)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder to write (path.json, path.extxyz, profile.png).")
@_launchpad_option
def export_cmd(wf_id, out_dir, launchpad_file) -> None:
    """Write the run folder of workflow WF_ID from the results collection."""
    from nafill.workflows.fw_runner import export_run
    from nafill.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad_file) as lp:
        out = export_run(lp, wf_id, out_dir)
    click.echo(f"wrote {out}/path.json, path.extxyz, profile.png")


# ------------------------------------------------------------------------------------ analyze
@cli.command("analyze")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of the table.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the PNG figures [default: analysis/ inside the first run folder].")
@click.option("--tol-ev", "tol_eV", type=float, default=0.05, show_default=True,
              help="H must fall this much (eV) below its maximum to count as nucleation.")
@click.option("--mass-convention", type=click.Choice(["all-carbon", "one-wall", "host"]),
              default="all-carbon", show_default=True, help="Which host atoms count in mAh/g.")
@click.option("--valence", type=float, default=None,
              help="Na valence (e/Na) for mAh/g [default: average Bader valence, else 1.0, stated].")
@click.option("--gamma-j-m2", "gamma_J_m2", type=float, default=0.2, show_default=True,
              help="Surface energy for the classical confined barrier curve, J/m^2.")
@click.option("--theta-deg", type=float, default=90.0, show_default=True,
              help="Contact angle for the classical confined barrier curve, degrees.")
def analyze_cmd(runs, as_json, plots_dir, tol_eV, mass_convention, valence, gamma_J_m2, theta_deg) -> None:
    """Summarise one or more runs (folders or path.json files): barrier, critical size,
    practical/theoretical capacity in Na and mAh/g; figures for every analysis that applies
    (profiles; barrier against cavity size with its d^2 fit; orifice scan; connected pores)."""
    from nafill.analysis.compare import load_paths
    from nafill.analysis.report import analyze, format_report
    from nafill.errors import check_range

    check_range("tol_ev", tol_eV, 0.0, None, "eV", lo_inclusive=False)
    if valence is not None:
        check_range("valence", valence, 0.0, 1.5)
    paths = load_paths(runs)
    if plots_dir is None:
        first = Path(runs[0])
        plots_dir = (first if first.is_dir() else first.parent) / "analysis"
    result = analyze(paths, plots_dir, tol_eV, mass_convention, valence, gamma_J_m2, theta_deg)
    click.echo(json.dumps(result, indent=1) if as_json else format_report(result))


# ------------------------------------------------------------------------------------ beyond the protocol
@cli.command("thermo")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--temperatures", "temperatures", type=float, multiple=True, default=(0.0, 300.0), show_default=True,
              help="Temperatures, K: --temperatures 0 100 300")
@click.option("--calculator", default=None,
              help="Backend for the phonons [default: the run's own, if ASE-based]; mlip is recommended "
                   "(the emt surrogate's bcc Na has imaginary modes).")
@click.option("--calc-option", multiple=True, metavar="KEY=VALUE")
@click.option("--steps", "steps", type=int, multiple=True, help="Only these Na counts (default: every step).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for thermo.json and thermo.png [default: the run folder].")
@click.option("--json", "as_json", is_flag=True)
def thermo_cmd(run, temperatures, calculator, calc_option, steps, out_dir, as_json) -> None:
    """Harmonic free energies with phonopy: G(x, T) = H(x) + F_vib(x, T) - x f_Na(T) (Na displaced,
    carbon frozen). Prints the table, flags imaginary modes, writes thermo.json and thermo.png."""
    from nafill.analysis.plots import plot_free_energy
    from nafill.io import atomic_write_text
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.store import load_path
    from nafill.workflows.thermo import check_temperatures, free_energy_profile

    temps = check_temperatures(temperatures)
    path = load_path(run)
    name = calculator or path.backend.get("name")
    if name == "vasp":
        raise NafillInputError("--calculator: phonons of a VASP run need VASP single points; use "
                               "nafill.workflows.thermo.write_displacement_inputs, or pass --calculator mlip")
    backend = get_backend(name, **_parse_calc_options(calc_option))
    if not hasattr(backend, "calculator"):
        raise NafillInputError(f"--calculator = {name!r} is not an ASE-based backend")
    prof = free_energy_profile(path, backend.calculator, temps, list(steps) or None)
    out = Path(out_dir) if out_dir else (Path(run) if Path(run).is_dir() else Path(run).parent)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "thermo.json", json.dumps(prof.as_dict(), indent=1))
    png = plot_free_energy(prof, out / "thermo.png", 300.0)
    if as_json:
        click.echo(json.dumps(prof.as_dict(), indent=1))
        return
    head = "  ".join(f"G({t:g}K) eV" for t in temps)
    click.echo(f"backend {name}; f_Na(T) = " + ", ".join(f"{f:.4f}" for f in prof.f_na_eV) + " eV/atom")
    if prof.bcc.get("imaginary_modes_THz"):
        click.echo(f"WARNING: bcc Na has {len(prof.bcc['imaginary_modes_THz'])} imaginary modes with {name} "
                   f"(softest {min(prof.bcc['imaginary_modes_THz']):.2f} THz): f_Na is unreliable")
    click.echo(f"{'x':>3} {'H (eV)':>9}  {head}")
    for i, x in enumerate(prof.n_na):
        flag = "  imaginary modes!" if x in prof.imaginary else ""
        click.echo(f"{x:>3} {prof.formation_enthalpy_eV[i]:9.3f}  " +
                   "  ".join(f"{g:11.3f}" for g in prof.gibbs_eV[i]) + flag)
    for x, f in sorted(prof.imaginary.items()):
        click.echo(f"x = {x}: {len(f)} imaginary mode(s), softest {min(f):.2f} THz (not a minimum)")
    click.echo(f"wrote {out / 'thermo.json'}, {png}")


@cli.command("neb")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Orifice spacings, nm: --spacings-nm 0.40 0.45 0.50 0.55")
@click.option("--calculator", default="emt", show_default=True)
@click.option("--calc-option", multiple=True, metavar="KEY=VALUE")
@click.option("--images", "n_images", type=int, default=5, show_default=True, help="Intermediate images.")
@click.option("--fmax", "fmax_eV_A", type=float, default=0.05, show_default=True, help="NEB force threshold, eV/A.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("neb"),
              show_default=True, help="Folder for neb.json and neb.png.")
@click.option("--vasp-inputs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write VTST NEB inputs (POTCAR.spec) per spacing into this folder.")
@click.option("--json", "as_json", is_flag=True)
def neb_cmd(spacings, calculator, calc_option, n_images, fmax_eV_A, out_dir, vasp_inputs, as_json) -> None:
    """Climbing-image NEB of one Na hopping between neighbouring sites in orifices of the given
    spacings: barrier (eV) against spacing (nm) as a table, neb.json and neb.png."""
    from nafill.analysis.plots import plot_neb_barriers
    from nafill.errors import check_range
    from nafill.io import atomic_write_text
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.neb import barrier_table, write_neb_inputs

    for s in spacings:
        check_range("spacings_nm", s, 0.30, 5.0, "nm")
    backend = get_backend(calculator, **_parse_calc_options(calc_option))
    if not hasattr(backend, "factory"):
        raise NafillInputError(f"--calculator = {calculator!r}: NEB here needs an ASE-based backend; "
                               "use --vasp-inputs for VASP")
    table, results = barrier_table(list(spacings), backend, n_images=n_images, fmax_eV_A=fmax_eV_A)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"backend": backend.describe(), "results": [r.as_dict() for r in results]}
    atomic_write_text(out_dir / "neb.json", json.dumps(doc, indent=1))
    png = plot_neb_barriers(table, results, out_dir / "neb.png")
    if vasp_inputs is not None:
        for r in results:
            write_neb_inputs(r.images, Path(vasp_inputs) / f"neb_{r.spacing_nm:g}nm", fmax_eV_A, potcar_spec=True)
    if as_json:
        click.echo(json.dumps(doc, indent=1))
        return
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    click.echo(f"wrote {out_dir / 'neb.json'}, {png}")


# ------------------------------------------------------------------------------------ entry
MULTI_VALUE_OPTIONS = ("--spacings-nm", "--temperatures", "--layers", "--steps")
"""Options that take several space-separated numbers (click wants them repeated)."""


def _expand_multi_value(argv: list[str]) -> list[str]:
    """Rewrite ``--opt 1 2 3`` as ``--opt 1 --opt 2 --opt 3`` for :data:`MULTI_VALUE_OPTIONS`."""
    out: list[str] = []
    k = 0
    while k < len(argv):
        tok = argv[k]
        out.append(tok)
        k += 1
        if tok in MULTI_VALUE_OPTIONS:
            first = True
            while k < len(argv) and is_number(argv[k]):
                if not first:
                    out.append(tok)
                out.append(argv[k])
                first = False
                k += 1
    return out


def _as_cli_name(message: str) -> str:
    """Name the command-line flag in a Python-side message: ``spacing_nm = ...`` -> ``--spacing-nm = ...``."""
    head, sep, rest = message.partition(" = ")
    if sep and head.replace("_", "").isalnum():
        return f"--{head.replace('_', '-').lower()} = {rest}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one-line errors, exit status 2 for bad input."""
    argv = _expand_multi_value(list(sys.argv[1:] if argv is None else argv))
    try:
        rv = cli.main(args=argv, prog_name="nafill", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("nafill: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"nafill: error: {exc.format_message()}", err=True)
        return exc.exit_code if exc.exit_code else 2
    except NafillInputError as exc:
        click.echo(f"nafill: error: {_as_cli_name(str(exc))}", err=True)
        return 2
    except NafillRunError as exc:
        click.echo(f"nafill: run error: {exc}", err=True)
        return 3
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
