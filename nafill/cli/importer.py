"""``nafill import vasp``: a run folder (path.json) from a filling study done by hand in VASP."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("import")
def import_cmd() -> None:
    """Build a run folder from calculations made outside nafill (read by `nafill analyze`)."""


@import_cmd.command("vasp")
@click.option("--host", "host_dir", type=click.Path(path_type=Path), required=True,
              help="VASP run folder of the empty host (no Na).")
@click.option("--bulk-na", "bulk_dir", type=click.Path(path_type=Path), required=True,
              help="VASP run folder of bcc Na: mu_Na is its energy per atom.")
@click.argument("step_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder to write: path.json and path.extxyz.")
@click.option("--overwrite", is_flag=True, help="Replace a path.json already in --out.")
def vasp_cmd(host_dir, bulk_dir, step_dirs, out_dir, overwrite) -> None:
    """One path step per STEP_DIR (VASP run folders, vasprun.xml or vasprun.xml.gz, VASP 5 or 6),
    given in increasing Na count; the Na count is read from each structure. Energies in eV are
    pymatgen's final_energy (sigma->0); H(x) = E(x) - E(host) - x mu_Na. A bad folder (no
    vasprun, another host, Na counts not increasing) is refused with its name and nothing is
    written."""
    from nafill.workflows.backends.vasp.importer import import_vasp_study

    path = import_vasp_study(host_dir, bulk_dir, step_dirs, out_dir, overwrite)
    s = path.steps[-1]
    click.echo(f"imported {len(path.steps)} steps (Na {path.steps[0]['n_na']}..{s['n_na']}), "
               f"final H = {s['formation_enthalpy_eV']:.3f} eV, mu_Na = {path.reference['mu_na_eV']:.4f} eV; "
               f"wrote {Path(out_dir) / 'path.json'}; next: nafill analyze {out_dir}")
