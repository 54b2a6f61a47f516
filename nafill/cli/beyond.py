"""Beyond the published protocol: ``nafill thermo`` (phonopy free energies) and ``nafill neb``
(orifice hopping barriers)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nafill.analysis.plots import plot_free_energy, plot_neb_barriers
from nafill.cli.options import OUT_DIR, calculator_options, parse_calc_options
from nafill.errors import NafillInputError, check_range
from nafill.io import atomic_write_text
from nafill.workflows.backends.registry import checked_backend
from nafill.workflows.engine.store import load_path
from nafill.workflows.studies.neb import barrier_table, write_neb_inputs
from nafill.workflows.studies.thermo import check_temperatures, free_energy_profile


@click.command("thermo")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--temperatures", "temperatures", type=float, multiple=True, default=(0.0, 300.0), show_default=True,
              help="Temperatures, K: --temperatures 0 100 300")
@calculator_options(None, "Backend for the phonons: emt, mlip, vasp or module:factory [default: the run's "
                         "own, if ASE-based]; mlip is recommended (the emt surrogate's bcc Na has imaginary modes).")
@click.option("--steps", "steps", type=int, multiple=True, help="Only these Na counts (default: every step).")
@click.option("--out", "out_dir", type=OUT_DIR, default=None,
              help="Folder for thermo.json and thermo.png [default: the run folder].")
@click.option("--json", "as_json", is_flag=True)
def thermo_cmd(run, temperatures, calculator, calc_option, steps, out_dir, as_json) -> None:
    """Harmonic free energies with phonopy: G(x, T) = H(x) + F_vib(x, T) - x f_Na(T) (Na displaced,
    carbon frozen). Prints the table, flags imaginary modes, writes thermo.json and thermo.png."""
    temps = check_temperatures(temperatures)
    path = load_path(run)
    have = [int(st["n_na"]) for st in path.steps]
    if not have:
        raise NafillInputError(f"RUN = {str(run)!r} holds no steps yet: nothing to compute")
    bad = [k for k in steps if k not in have]
    if bad:
        raise NafillInputError(f"--steps {' '.join(map(str, bad))}: the run has the Na counts {have[0]}..{have[-1]}")
    if out_dir is not None:
        from nafill.workflows.engine.store import check_out_dir

        check_out_dir(out_dir)
    name = calculator or path.backend.get("name")
    if name == "vasp":
        raise NafillInputError("--calculator: phonons of a VASP run need VASP single points; use "
                               "nafill.workflows.studies.thermo.write_displacement_inputs, or pass --calculator mlip")
    backend = checked_backend(name, parse_calc_options(calc_option))
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


@click.command("neb")
@click.option("--spacings-nm", "spacings", type=float, multiple=True, required=True,
              help="Orifice spacings, nm: --spacings-nm 0.40 0.45 0.50 0.55")
@calculator_options()
@click.option("--images", "n_images", type=int, default=6, show_default=True,
              help="Intermediate images (even: no image at the midpoint of a symmetric hop).")
@click.option("--fmax", "fmax_eV_A", type=float, default=0.05, show_default=True, help="NEB force threshold, eV/A.")
@click.option("--out", "out_dir", type=OUT_DIR, default=Path("neb"),
              show_default=True, help="Folder for neb.json and neb.png.")
@click.option("--vasp-inputs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write VTST NEB inputs (POTCAR.spec) per spacing into this folder.")
@click.option("--json", "as_json", is_flag=True)
def neb_cmd(spacings, calculator, calc_option, n_images, fmax_eV_A, out_dir, vasp_inputs, as_json) -> None:
    """Climbing-image NEB of one Na hopping between neighbouring sites in orifices of the given
    spacings: barrier (eV) against spacing (nm) as a table, neb.json and neb.png."""
    for s in spacings:
        check_range("spacings_nm", s, 0.30, 5.0, "nm")
    check_range("images", n_images, 1, 50)
    check_range("fmax", fmax_eV_A, 0.0, 10.0, "eV/A", lo_inclusive=False)
    from nafill.workflows.engine.store import check_out_dir

    check_out_dir(out_dir)
    if vasp_inputs is not None:
        check_out_dir(vasp_inputs, "--vasp-inputs")
    backend = checked_backend(calculator, parse_calc_options(calc_option))
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
