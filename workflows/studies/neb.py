"""Na diffusion through an orifice: climbing-image NEB of one Na hopping between neighbouring sites.

The hop: one Na in a bilayer of the given spacing moves from the hollow site above one lower-wall
hexagon to the next one (2.46 A away, across a C-C bridge); both end points are relaxed first
(Na only, carbon frozen), the path is interpolated (IDPP) and relaxed as a climbing-image NEB
(ASE) to ``fmax_eV_A``. The barrier is the highest image energy minus the initial energy.

The VASP route writes the same images as VTST NEB inputs (``00`` ... ``NN`` folders, IMAGES,
SPRING, LCLIMB) with :func:`write_neb_inputs`; they run through the same custodian runner
(:func:`nafill.workflows.backends.vasp.runner.run_vasp` with ``job="neb"``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from nafill.errors import check_int, check_range
from nafill.structures.pores import orifice
from nafill.structures.sites import add_guest, hexagon_centres
from nafill.workflows.backends.vasp.inputs import write_inputs


@dataclass
class NebResult:
    """One NEB: barrier (eV), image energies relative to the initial state, convergence."""

    spacing_nm: float
    barrier_eV: float
    reverse_barrier_eV: float
    energies_eV: list[float]
    hop_distance_A: float
    converged: bool
    max_force_eV_A: float
    n_steps: int
    wall_s: float
    images: list = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("images")
        return d


def hop_end_points(spacing_nm: float, supercell=(4, 4)) -> tuple[Atoms, Atoms]:
    """Unrelaxed initial/final states: one Na over two neighbouring lower-wall hexagon centres,
    at the mid-plane of the slit (or 2.4 A above the lower wall in wider pores)."""
    host = orifice(spacing_nm, supercell)
    centres = hexagon_centres(host, 1)
    c0 = centres[0]
    d = np.linalg.norm((centres - c0)[:, :2], axis=1)
    d[0] = np.inf
    c1 = centres[int(np.argmin(d))]
    z_low = host.positions[host.arrays["wall"] == 1, 2].mean()
    z = z_low + min(0.5 * spacing_nm * 10.0, 2.4)
    return add_guest(host, [c0[0], c0[1], z]), add_guest(host, [c1[0], c1[1], z])


def orifice_hop_neb(
    spacing_nm: float,
    backend,
    n_images: int = 5,
    fmax_eV_A: float = 0.05,
    max_steps: int = 500,
    climb: bool = True,
    supercell=(4, 4),
) -> NebResult:
    """Climbing-image NEB of one Na hop in a bilayer of ``spacing_nm`` with an ASE-based backend."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    check_range("spacing_nm", spacing_nm, 0.30, 5.0, "nm")
    check_int("n_images", n_images, 1, 30)
    check_range("fmax_eV_A", fmax_eV_A, 0.0, 5.0, "eV/A", lo_inclusive=False)
    t0 = time.perf_counter()
    a0, a1 = hop_end_points(spacing_nm, supercell)
    r0 = backend.relax(a0, fmax_eV_A=fmax_eV_A / 5, max_steps=max_steps)
    r1 = backend.relax(a1, fmax_eV_A=fmax_eV_A / 5, max_steps=max_steps)
    ini, fin = r0.atoms(), r1.atoms()
    images = [ini] + [ini.copy() for _ in range(n_images)] + [fin]
    for im in images:
        im.calc = backend.factory()
    neb = NEB(images, climb=climb, allow_shared_calculator=False, method="improvedtangent")
    neb.interpolate(method="idpp")
    opt = FIRE(neb, logfile=None)
    converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
    energies = np.array([im.get_potential_energy() for im in images])
    rel = energies - energies[0]
    forces = neb.get_forces()
    fmax = float(np.linalg.norm(forces.reshape(-1, 3), axis=1).max()) if forces.size else 0.0
    na = len(ini) - 1
    return NebResult(
        spacing_nm=float(spacing_nm),
        barrier_eV=float(rel.max()),
        reverse_barrier_eV=float(energies.max() - energies[-1]),
        energies_eV=[float(x) for x in rel],
        hop_distance_A=float(np.linalg.norm(fin.positions[na] - ini.positions[na])),
        converged=converged,
        max_force_eV_A=fmax,
        n_steps=int(opt.nsteps),
        wall_s=time.perf_counter() - t0,
        images=images,
    )


def barrier_table(spacings_nm: Sequence[float], backend, **kw):
    """NEB barrier against orifice spacing: a pandas DataFrame and the raw results."""
    import pandas as pd

    results = [orifice_hop_neb(s, backend, **kw) for s in spacings_nm]
    df = pd.DataFrame([r.as_dict() for r in results])[
        ["spacing_nm", "barrier_eV", "reverse_barrier_eV", "hop_distance_A", "converged", "max_force_eV_A", "n_steps"]
    ]
    return df, results


def write_neb_inputs(images: Sequence[Atoms], directory, fmax_eV_A: float = 0.05, potcar_spec: bool = False) -> Path:
    """VASP (VTST) climbing-image NEB inputs: INCAR/KPOINTS/POTCAR at the top, POSCARs in 00..NN."""
    from pymatgen.io.vasp.inputs import Incar

    directory = Path(directory)
    n = len(images) - 2
    for k, im in enumerate(images):
        write_inputs(im, directory / f"{k:02d}", fmax_eV_A=fmax_eV_A, potcar_spec=potcar_spec)
    top = directory / "00"
    incar = Incar.from_file(top / "INCAR")
    incar.update({"IMAGES": n, "SPRING": -5, "LCLIMB": True, "IBRION": 3, "POTIM": 0, "IOPT": 1, "ICHAIN": 0})
    incar.write_file(directory / "INCAR")
    for name in ("KPOINTS", "POTCAR", "POTCAR.spec"):
        if (top / name).exists():
            (directory / name).write_bytes((top / name).read_bytes())
    for k in range(len(images)):
        for name in ("INCAR", "KPOINTS", "POTCAR", "POTCAR.spec"):
            (directory / f"{k:02d}" / name).unlink(missing_ok=True)
    return directory
