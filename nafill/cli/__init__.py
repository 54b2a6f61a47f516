"""The ``nafill`` command line.

Units: pore sizes and spacings in nm (``--spacing-nm``), lengths inside structures in A, energies
in eV, voltages in V, capacities in Na per cell or mAh/g. Every verb has ``--help``.
Bad arguments exit with status 2 and a one-line message naming the argument.

One module per verb group: ``build``, ``fill``, ``fireworks`` (submit, run, status, export),
``analyze``, ``beyond`` (thermo, neb), ``importer`` (import vasp); options shared between them are in ``options``.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from nafill import __version__
from nafill.errors import NafillInputError, NafillRunError, is_number

log = logging.getLogger("nafill")

VERBS = {
    "analyze": ("nafill.cli.analyze:analyze_cmd", "Barrier, critical size and capacities of runs; figures."),
    "build": ("nafill.cli.build:build", "Build pore models and write them to a structure file."),
    "export": ("nafill.cli.fireworks:export_cmd", "Write the run folder of a workflow from the database."),
    "fill": ("nafill.cli.fill:fill_cmd", "Fill a pore one Na at a time along the lowest-enthalpy path."),
    "import": ("nafill.cli.importer:import_cmd", "Build a run folder from VASP runs done by hand (import vasp)."),
    "lpad": ("nafill.cli.fwtools:lpad_cmd", "FireWorks' lpad on the embedded store, locked, written atomically."),
    "neb": ("nafill.cli.beyond:neb_cmd", "Climbing-image NEB of one Na hopping in orifices."),
    "qlaunch": ("nafill.cli.fwtools:qlaunch_cmd", "FireWorks' qlaunch on the embedded store, lent to each job of a local queue."),
    "rlaunch": ("nafill.cli.fwtools:rlaunch_cmd", "FireWorks' rlaunch on the embedded store, locked, written atomically."),
    "run": ("nafill.cli.fireworks:run_cmd", "Launch ready Fireworks here until none is left."),
    "status": ("nafill.cli.fireworks:status_cmd", "List nafill workflows with their state and steps done."),
    "study": ("nafill.cli.study:study_cmd", "The whole closed-pore study, resumable, with a claims report."),
    "submit": ("nafill.cli.fireworks:submit", "Add workflows to the LaunchPad."),
    "thermo": ("nafill.cli.beyond:thermo_cmd", "Harmonic free energies G(x, T) with phonopy."),
}
"""Every verb: where its command lives and the one-line summary ``nafill --help`` lists."""


class LazyGroup(click.Group):
    """Imports a verb's module only when that verb runs, so ``nafill --help`` starts in a fraction
    of a second (the verb modules import ASE, pymatgen and FireWorks at their top)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in VERBS:
            return None
        module, attr = VERBS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)  # lazy: CLI start-up (see class doc)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, VERBS[name][1]) for name in self.list_commands(ctx)])


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler()
    handler.setLevel(level)  # FireWorks' loggers are DEBUG and propagate: filter at the handler
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nafill")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """nafill: sodium nucleation in the closed pores of hard carbon.

    Build pore models, fill them one Na at a time along the lowest-enthalpy path, and analyse
    the formation-enthalpy profiles. Pore sizes are in nm, structures in A, energies in eV.
    """
    _setup_logging(verbose)


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


def _flags_of(argv: list[str]) -> dict[str, str]:
    """Python names of the invoked command's options -> their real flags (``n_candidates`` ->
    ``--candidates``), so a message raised deep inside names the flag the user can type."""
    flags: dict[str, str] = {}
    try:
        ctx = click.Context(cli)
        cmd: click.Command | None = cli
        for tok in argv:
            if tok.startswith("-"):
                continue
            if isinstance(cmd, click.Group):
                cmd = cmd.get_command(ctx, tok)
                if cmd is None:
                    return flags
                continue
            break
        for p in getattr(cmd, "params", []):
            if isinstance(p, click.Option) and p.name:
                long = [o for o in p.opts if o.startswith("--")]
                if long:
                    flags[p.name.lower()] = long[0]
    except Exception:  # noqa: BLE001 - naming is best effort, never an error of its own
        pass
    return flags


def _as_cli_name(message: str, argv: list[str] | None = None) -> str:
    """Name the command-line flag in a Python-side message: ``n_candidates = 0 ...`` ->
    ``--candidates = 0 ...`` (the invoked command's real flag; else ``spacing_nm`` -> ``--spacing-nm``)."""
    head, sep, rest = message.partition(" = ")
    if sep and head.replace("_", "").isalnum():
        flag = _flags_of(argv or []).get(head.lower())
        return f"{flag or '--' + head.replace('_', '-').lower()} = {rest}"
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
        click.echo(f"nafill: error: {_as_cli_name(str(exc), argv)}", err=True)
        return 2
    except NafillRunError as exc:
        click.echo(f"nafill: run error: {exc}", err=True)
        return 3
    except OSError as exc:  # disk full, a folder made read-only during the run ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        click.echo(f"nafill: run error: {exc.strerror or exc}{where}; what was written before is kept: fix "
                   "it and run the same command again to resume", err=True)
        return 3
    return rv if isinstance(rv, int) else 0

