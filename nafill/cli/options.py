"""Options shared by several verbs, defined once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

CALCULATOR_HELP = ("Energy backend: surrogate (default: SevenNet-0 distilled, fast, physically sound), "
                   "emt (workflow tests only, not physics), mlip (SevenNet-0; needs the mlip extra), "
                   "vasp (VASP through custodian) or module:factory (any ASE calculator).")


def parse_calc_options(options: tuple[str, ...], flag: str = "--calc-option") -> dict:
    """``KEY=VALUE`` pairs (VALUE read as JSON when it parses, else as a string) of ``flag``."""
    out = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} must be KEY=VALUE", param_hint=f"'{flag}'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


DEFAULT_CALCULATOR = "surrogate"
CALCULATOR_ENV = "NAFILL_CALCULATOR"
"""Environment variable that changes the default backend (the test suite sets it to emt)."""


def default_calculator() -> str:
    return os.environ.get(CALCULATOR_ENV) or DEFAULT_CALCULATOR


def calculator_options(default: str | None = "auto", help: str = CALCULATOR_HELP):
    """``--calculator NAME`` (default ``surrogate``, or ``$NAFILL_CALCULATOR``) and repeatable
    ``--calc-option KEY=VALUE``."""
    def deco(f):
        f = click.option("--calc-option", multiple=True, metavar="KEY=VALUE",
                         help="Backend option (JSON value), repeatable, e.g. --calc-option dispersion=\"d3-zero\".")(f)
        if default == "auto":
            return click.option("--calculator", default=default_calculator,
                                show_default=f"{DEFAULT_CALCULATOR}, or ${CALCULATOR_ENV}", help=help)(f)
        return click.option("--calculator", default=default, show_default=default is not None, help=help)(f)
    return deco


def bilayer_options(f):
    """``--supercell``, ``--stacking`` and ``--vacuum-a`` of the bilayer builders."""
    f = click.option("--vacuum-a", "vacuum_A", type=float, default=15.0, show_default=True,
                     help="Vacuum between the outer faces of the walls, A.")(f)
    f = click.option("--stacking", type=click.Choice(["AB", "AA"], case_sensitive=False),
                     default="AB", show_default=True, help="Registry of the two graphene walls.")(f)
    f = click.option("--supercell", nargs=2, type=int, default=(4, 4), show_default=True,
                     help="Lateral n m repetition of the graphene cell (4 4: 64 C, a = 9.84 A).")(f)
    return f


def output_option(f):
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        required=True, help="Output file; the format follows the extension.")(f)


class OutDirType(click.ParamType):
    """An output folder: refuses '' (which would mean the current folder) and an existing file;
    whether it can be written is checked before anything runs (``engine.store.check_out_dir``)."""

    name = "DIR"

    def convert(self, value, param, ctx):
        if isinstance(value, Path):
            return value
        if not str(value).strip():
            self.fail(f"{value!r} is empty; name an output folder", param, ctx)
        p = Path(str(value)).expanduser()
        if p.exists() and not p.is_dir():
            self.fail(f"{str(value)!r} exists and is not a folder", param, ctx)
        return p


OUT_DIR = OutDirType()


class NonEmptyPath(click.ParamType):
    """A path that may not be '' (click would read it as the current folder)."""

    name = "PATH"

    def convert(self, value, param, ctx):
        if isinstance(value, Path):
            return value
        if not str(value).strip():
            self.fail(f"{value!r} is empty", param, ctx)
        return Path(str(value)).expanduser()


NONEMPTY_PATH = NonEmptyPath()


def launchpad_option(f):
    """``--launchpad FILE`` (a real MongoDB) and ``--store FILE|DIR`` (which embedded store)."""
    f = click.option("--store", "store", type=NONEMPTY_PATH, default=None,
                     help="Embedded store: a store file, or a run folder of `nafill fill` (its own "
                          "store) [default: $NAFILL_LAUNCHPAD_STORE, else ~/.nafill/launchpad_store.json].")(f)
    return click.option(
        "--launchpad", "launchpad_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="LaunchPad YAML of a real MongoDB [default: $NAFILL_LAUNCHPAD, else the embedded store].")(f)


def ladder_options(f):
    """The fidelity ladder: ``--screen``, ``--screen-option``, ``--screen-max``, ``--screen-margin-ev``,
    ``--no-screen-learn`` (handed to the command as ``screen_calculator``, ``screen_options``,
    ``screen_max``, ``screen_margin_eV``, ``screen_learn``)."""
    f = click.option("--no-screen-learn", "screen_learn", is_flag=True, flag_value=False, default=True,
                     help="Do not correct the cheap energies with what the expensive backend said so far.")(f)
    f = click.option("--screen-margin-ev", "screen_margin_eV", type=float, default=0.05, show_default=True,
                     help="Relax one more candidate with the expensive backend when its predicted "
                          "energy is within this of the best found, eV.")(f)
    f = click.option("--screen-max", type=int, default=3, show_default=True,
                     help="Most expensive relaxations per Na (the ladder starts with two).")(f)
    f = click.option("--screen-option", "screen_options", multiple=True, metavar="KEY=VALUE",
                     help="Option of the cheap backend (JSON value), repeatable, e.g. --screen-option "
                          "parameters_file=my_fit.json for a refitted surrogate.")(f)
    f = click.option("--screen", "screen_calculator", default="auto", show_default=True,
                     help="Cheap backend that searches for the expensive one: auto (vasp -> mlip, else "
                          "surrogate; mlip -> surrogate; others: none), none (single fidelity), or a "
                          "backend name.")(f)
    return f
