"""Is this a host nafill can fill? :func:`check_host`, run before anything else by every verb that
takes a host (``fill``, ``submit fill``, ``build sites``), whether built or read from a file.

Refused (:class:`~nafill.errors.NafillInputError`, one line naming the problem and the way out):

* a non-finite coordinate or cell, or no 3D cell;
* no carbon, or not two walls (a single sheet, Na only);
* two atoms closer than :data:`MIN_ATOM_DISTANCE_A` (a duplicated atom);
* walls closer than :data:`MIN_VACUUM_A` across the periodic boundary along z (the outer faces of
  the two walls would bind to each other through the cell boundary);
* Na already in the host (``allow_na=False``): a filling path starts from the empty pore, since
  its enthalpies are ``H(x) = E(x) - E(0) - x mu_Na`` with ``E(0)`` the empty host. Refusing is
  the choice made here (rather than taking the Na as a starting point), because a path that
  starts part-filled would silently report H(x) against the wrong reference. ``build sites``
  accepts Na (sites for the next one).

Warned (returned as strings): a lateral cell narrower than the force field's cutoff (the graphene
1x1 and 2x2 cells), where a Na feels its own periodic images; little vacuum (below
:data:`WARN_VACUUM_A`).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from nafill.constants import TAG_LOWER_WALL, TAG_UPPER_WALL
from nafill.errors import NafillInputError
from nafill.structures.geometry import guest_indices, wall_labels

MIN_ATOM_DISTANCE_A = 0.8
"""Closest two atoms may come (C-H is 1.09 A, C-C 1.42 A): anything closer is a duplicate."""

MIN_VACUUM_A = 6.0
"""Smallest gap between the outer faces of the walls across the periodic boundary along z."""

WARN_VACUUM_A = 10.0
"""Below this vacuum a warning is given (the ML potentials' cutoff is about 5 A)."""

DEFAULT_CUTOFF_A = 5.0
"""Interaction range assumed for the lateral-cell check (the ML potentials' cutoff)."""


def lateral_widths_A(atoms: Atoms) -> tuple[float, float]:
    """Perpendicular widths (A) of the cell in the wall plane (distance between opposite faces)."""
    a, b = np.array(atoms.cell[0]), np.array(atoms.cell[1])
    area = float(np.linalg.norm(np.cross(a, b)))
    return area / max(float(np.linalg.norm(b)), 1e-12), area / max(float(np.linalg.norm(a)), 1e-12)


def check_host(atoms: Atoms, what: str = "host", allow_na: bool = False,
               cutoff_A: float = DEFAULT_CUTOFF_A) -> list[str]:
    """Refuse a host nafill cannot fill (see the module docstring); return the warnings."""
    warnings: list[str] = []
    pos = np.asarray(atoms.positions, float)
    cell = np.asarray(atoms.cell, float)
    if len(atoms) == 0:
        raise NafillInputError(f"{what} holds no atoms")
    if not np.isfinite(pos).all():
        k = int(np.where(~np.isfinite(pos).all(axis=1))[0][0])
        raise NafillInputError(f"{what}: atom {k} ({atoms[k].symbol}) has a non-finite coordinate {pos[k].tolist()}")
    if not np.isfinite(cell).all() or atoms.cell.rank != 3 or abs(np.linalg.det(cell)) < 1e-6:
        raise NafillInputError(f"{what} has no finite 3D periodic cell (cell {cell.round(3).tolist()})")
    sym = np.array(atoms.get_chemical_symbols())
    if not (sym == "C").any():
        raise NafillInputError(f"{what} holds no carbon ({atoms.get_chemical_formula()}): a pore needs two "
                               "carbon walls (build one with nafill build cavity)")
    na = guest_indices(atoms)
    if len(na) and not allow_na:
        raise NafillInputError(f"{what} already holds {len(na)} Na: a fill starts from the empty pore (H(x) "
                               "is measured from E(empty host)); remove the Na from the file")
    labels = wall_labels(atoms)
    carbon = sym == "C"
    n_lo = int(((labels == TAG_LOWER_WALL) & carbon).sum())
    n_up = int(((labels == TAG_UPPER_WALL) & carbon).sum())
    if n_lo == 0 or n_up == 0:
        raise NafillInputError(f"{what}: found one carbon wall, not two (a pore is two graphene walls "
                               "with a gap between them, walls separated along z)")
    if len(atoms) > 1:
        d = atoms.get_all_distances(mic=True)
        np.fill_diagonal(d, np.inf)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < MIN_ATOM_DISTANCE_A:
            raise NafillInputError(
                f"{what}: atoms {min(i, j)} and {max(i, j)} ({sym[i]}, {sym[j]}) are {d[i, j]:.2f} A apart "
                f"(closer than {MIN_ATOM_DISTANCE_A} A): a duplicated atom?")
    if atoms.pbc[2]:
        host = np.where(sym != "Na")[0]
        z = pos[host, 2]
        c = abs(float(np.linalg.det(cell))) / float(np.linalg.norm(np.cross(cell[0], cell[1])))  # height along z
        z_lo = z[labels[host] == TAG_LOWER_WALL]
        z_up = z[labels[host] == TAG_UPPER_WALL]
        vacuum = float(z_lo.min() + c - z_up.max())
        if vacuum < MIN_VACUUM_A:
            raise NafillInputError(
                f"{what}: the walls are {vacuum:.2f} A apart across the periodic boundary along z (at least "
                f"{MIN_VACUUM_A:g} A of vacuum is needed, or the outer faces bind to each other); enlarge "
                "the cell along z (e.g. nafill build cavity --vacuum-a 15)")
        if vacuum < WARN_VACUUM_A:
            warnings.append(f"{what}: only {vacuum:.1f} A of vacuum between the outer faces of the walls "
                            f"(15 A is the usual)")
    wa, wb = lateral_widths_A(atoms)
    if min(wa, wb) < cutoff_A:
        warnings.append(
            f"{what}: the lateral cell is {min(wa, wb):.2f} A wide, less than the force field's cutoff "
            f"(~{cutoff_A:g} A): each Na feels its own periodic images (use --supercell 4 4 or larger)")
    return warnings
