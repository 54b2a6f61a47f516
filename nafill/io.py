"""Structure files and JSON-safe structure dictionaries.

* :func:`write_structure` picks the format from the extension: ``.vasp``/``POSCAR``/``CONTCAR``
  (POSCAR with selective dynamics freezing the host), ``.extxyz``/``.xyz`` (extended XYZ, keeps
  tags and the wall array), ``.cif``, ``.json`` (nafill's own dictionary).
* :func:`read_structure` reads any of these, infers the wall labels when the file has none
  (POSCAR, CIF) and freezes the host. Unreadable files raise :class:`NafillInputError`.
* :func:`atoms_to_dict` / :func:`atoms_from_dict` round-trip exactly through JSON (positions as
  Python floats, so ``repr`` keeps every bit).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from nafill.constants import WALL_ARRAY
from nafill.errors import NafillInputError
from nafill.structures.geometry import host_indices, wall_labels

FORMATS = {
    ".vasp": "vasp",
    ".poscar": "vasp",
    ".extxyz": "extxyz",
    ".xyz": "extxyz",
    ".cif": "cif",
    ".json": "json",
}


def structure_format(path: str | os.PathLike) -> str:
    """The format nafill uses for ``path`` (by extension or VASP file name)."""
    p = Path(path)
    if p.name.upper() in ("POSCAR", "CONTCAR") or p.name.upper().startswith(("POSCAR", "CONTCAR")):
        return "vasp"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise NafillInputError(
            f"output file {str(path)!r} has an unknown extension; use one of "
            f"{', '.join(sorted(FORMATS))} or a POSCAR/CONTCAR name"
        )
    return fmt


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + rename): never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def model_label(atoms: Atoms) -> str:
    """One line naming the model (the POSCAR comment): formula, pore kind and spacing in nm."""
    info = atoms.info
    parts = [atoms.get_chemical_formula()]
    if info.get("pore_kind"):
        parts.append(str(info["pore_kind"]))
    if info.get("spacing_nm") is not None:
        parts.append(f"{float(info['spacing_nm']):.3f} nm")
    elif info.get("section_spacings_nm"):
        parts.append(f"sections {info['section_spacings_nm']} nm")
    return " ".join(parts)


def write_structure(atoms: Atoms, path: str | os.PathLike) -> Path:
    """Write ``atoms`` to ``path`` in the format implied by its name (see module doc)."""
    from ase.io import write

    fmt = structure_format(path)
    path = Path(path)
    if fmt == "json":
        atomic_write_text(path, json.dumps(atoms_to_dict(atoms), indent=1))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    out = atoms.copy()
    if fmt == "vasp":
        # selective dynamics: the host (everything but Na) frozen, sorted by element
        host = [i for i, s in enumerate(out.get_chemical_symbols()) if s != "Na"]
        out.set_constraint(FixAtoms(indices=host) if host else None)
        buf = io.StringIO()
        write(buf, out, format="vasp", direct=True, sort=False)
        # ASE's first line lists only the elements: name the model there instead
        atomic_write_text(path, model_label(atoms) + "\n" + buf.getvalue().split("\n", 1)[1])
    elif fmt == "cif":
        out.set_constraint()
        write(path, out, format="cif")
    else:
        write(path, out, format="extxyz")
    return path


def read_structure(path: str | os.PathLike, freeze_host: bool = True) -> Atoms:
    """Read a structure file, label its walls and (by default) freeze every non-Na atom."""
    from ase.io import read

    p = Path(path)
    if not p.is_file():
        raise NafillInputError(f"host file {str(path)!r} does not exist or is not a file")
    try:
        fmt = structure_format(p)
    except NafillInputError:
        fmt = None
    try:
        if fmt == "json":
            atoms = atoms_from_dict(json.loads(p.read_text()))
        else:
            atoms = read(p, format=fmt) if fmt else read(p)
    except Exception as exc:  # ASE raises many kinds
        raise NafillInputError(f"cannot read structure file {str(path)!r}: {exc}") from None
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise NafillInputError(f"structure file {str(path)!r} holds no atoms")
    if atoms.cell.rank != 3:
        raise NafillInputError(f"structure file {str(path)!r} has no 3D periodic cell")
    labels = wall_labels(atoms)
    atoms.set_array(WALL_ARRAY, labels)
    atoms.set_tags(labels)
    if freeze_host:
        atoms.set_constraint(FixAtoms(indices=host_indices(atoms)))
    return atoms


_INFO_TYPES = (str, int, float, bool)


def atoms_to_dict(atoms: Atoms) -> dict[str, Any]:
    """JSON-safe dictionary of a structure (numbers, positions, cell, pbc, tags, walls, info)."""
    d: dict[str, Any] = {
        "numbers": [int(z) for z in atoms.numbers],
        "positions": [[float(x) for x in p] for p in atoms.positions],
        "cell": [[float(x) for x in v] for v in np.array(atoms.cell)],
        "pbc": [bool(b) for b in atoms.pbc],
        "tags": [int(t) for t in atoms.get_tags()],
    }
    for name in (WALL_ARRAY, "section"):
        if name in atoms.arrays:
            d[name] = [int(v) for v in atoms.arrays[name]]
    fixed = []
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed += [int(i) for i in c.get_indices()]
    d["fixed"] = sorted(set(fixed))
    d["info"] = {
        k: (v.item() if isinstance(v, np.generic) else v)
        for k, v in atoms.info.items()
        if isinstance(v, _INFO_TYPES + (np.generic,))
    }
    return d


def atoms_from_dict(d: dict[str, Any]) -> Atoms:
    """Inverse of :func:`atoms_to_dict`."""
    atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])
    if "tags" in d:
        atoms.set_tags(d["tags"])
    for name in (WALL_ARRAY, "section"):
        if name in d:
            atoms.set_array(name, np.array(d[name], int))
    if d.get("fixed"):
        atoms.set_constraint(FixAtoms(indices=d["fixed"]))
    atoms.info.update(d.get("info", {}))
    return atoms
