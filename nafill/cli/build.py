"""``nafill build``: pore models written to a structure file (cavity, orifice, na-layers,
connected) and the candidate sites of a structure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nafill.cli.options import bilayer_options, output_option
from nafill.io import read_structure, structure_format, write_structure
from nafill.structures.connected import connected_pore
from nafill.structures.na_layers import na_layers_model
from nafill.structures.pores import cavity, orifice
from nafill.structures.sites import candidate_sites
from nafill.structures.validation import check_host


@click.group()
def build() -> None:
    """Build pore models and write them to a structure file.

    The format follows the output extension: .vasp (POSCAR, selective dynamics freezing the
    carbon), .extxyz, .cif or .json.
    """


def _write(atoms, output: Path) -> None:
    structure_format(output)  # refuse an unknown extension before anything is written
    write_structure(atoms, output)
    click.echo(f"wrote {output} ({atoms.get_chemical_formula()}, {len(atoms)} atoms)")


@build.command("cavity")
@click.option("--spacing-nm", required=True,
              help="Wall-to-wall spacing between the carbon planes, nm (0.30-5.0), or a standard "
                   "cavity name 2L..7L (0.82, 1.05, 1.19, 1.48, 1.82, 2.18 nm).")
@bilayer_options
@output_option
def build_cavity(spacing_nm: str, supercell, stacking: str, vacuum_A: float, output: Path) -> None:
    """A cavity: two parallel graphene walls (Na clusters grow here)."""
    _write(cavity(spacing_nm, tuple(supercell), stacking, vacuum_A), output)


@build.command("orifice")
@click.option("--spacing-nm", type=float, required=True,
              help="Wall spacing, nm (usual orifices 0.37-0.7; accepted 0.30-5.0).")
@bilayer_options
@output_option
def build_orifice(spacing_nm: float, supercell, stacking: str, vacuum_A: float, output: Path) -> None:
    """An orifice: a narrow slit where single Na intercalate between the walls."""
    _write(orifice(spacing_nm, tuple(supercell), stacking, vacuum_A), output)


@build.command("na-layers")
@click.option("--layers", type=int, required=True, help="Number of bcc(110) Na layers, 1..7.")
@click.option("--lattice-a", "lattice_A", type=float, default=4.23, show_default=True,
              help="bcc Na lattice constant, A.")
@bilayer_options
@output_option
def build_na_layers(layers: int, lattice_A: float, supercell, stacking: str, vacuum_A: float,
                    output: Path) -> None:
    """Bilayer with k layers of bcc Na (starting model for a cavity-spacing relaxation)."""
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
@output_option
def build_connected(spacings, width_A: float, ny: int, stacking: str, output: Path) -> None:
    """A stage-wise pore: sections of increasing spacing (nm), narrow first.

    Example: nafill build connected --spacings-nm 0.5 1.2 1.82 -o pore.extxyz
    """
    _write(connected_pore(list(spacings), width_A, ny, stacking), output)


@build.command("sites")
@click.argument("structure", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for neighbour directions.")
@click.option("--no-symmetry", is_flag=True, help="Do not merge symmetry-equivalent sites.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def build_sites(structure: Path, seed: int, no_symmetry: bool, as_json: bool) -> None:
    """Print the candidate sites for the next Na in STRUCTURE (counts before/after merging)."""
    atoms = read_structure(structure)
    for w in check_host(atoms, f"STRUCTURE {str(structure)!r}", allow_na=True):
        click.echo(f"nafill: warning: {w}", err=True)
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
