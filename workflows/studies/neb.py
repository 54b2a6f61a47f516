"""Na diffusion through an orifice: climbing-image NEB of one Na hopping between neighbouring sites.

The hop: one Na in a bilayer of the given spacing moves from the hollow site above one lower-wall
hexagon towards the next one (2.46 A away, across a C-C bridge); both end points are relaxed first
(Na only, carbon frozen) and the path is interpolated (IDPP). In a narrow slit that 2.46 A hop
spans two elementary hops (the Na passes through a minimum under the upper wall's hollow on the
way), so the band is checked for an intermediate minimum and cut there: the reported hop joins
*adjacent* minima. Its band is relaxed as a climbing-image NEB (ASE) to ``fmax_eV_A``, and the
climb is checked (the climbing image moved, converged and is the highest image). The barrier is
the highest image energy minus the initial energy; every image energy is kept for the report.

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
    """One NEB: barrier (eV), image energies relative to the initial state, convergence.

    ``energies_eV`` / ``path_A`` are the final (climbing) band: energy of every image relative to
    the initial state and the distance of the moving Na from its initial position (A).
    ``splits`` lists the intermediate minima found on the first band (the band was cut there so
    that the end points are adjacent minima). ``climb_displacement_A`` is how far the climbing
    image's Na moved from where the band put it when climbing started (0 = it never climbed).
    """

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
    path_A: list[float] = field(default_factory=list)
    climbing_image: int | None = None
    climb_displacement_A: float = 0.0
    climb_steps: int = 0
    climbed: bool = False
    """The climbing image moved, converged, and is the highest image of the band."""
    lowest_interior_eV: float = 0.0
    """Lowest interior image relative to the lower end point (>= -tol for adjacent minima)."""
    splits: list[dict] = field(default_factory=list)
    initial_band_eV: list[float] = field(default_factory=list)
    """The first (unsplit) band's image energies relative to its initial state."""
    initial_hop_distance_A: float = 0.0
    cost: dict = field(default_factory=dict)
    """What the NEB spent, per backend name: ``evaluations`` (energy+force calls counted on every
    image's calculator and in the end-point relaxations), ``relaxations``, ``single_points``, ``wall_s``."""

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


def _counted(calc, counter: list[int]):
    """``calc`` with every calculation it really does (not a cached answer) counted in ``counter[0]``."""
    inner = calc.calculate

    def calculate(*args, **kwargs):
        counter[0] += 1
        return inner(*args, **kwargs)

    calc.calculate = calculate
    return calc


def _band(ini: Atoms, fin: Atoms, n_images: int, backend, counter: list[int] | None = None):
    from ase.mep import NEB

    images = [ini.copy()] + [ini.copy() for _ in range(n_images)] + [fin.copy()]
    for im in images:
        im.calc = backend.factory() if counter is None else _counted(backend.factory(), counter)
    neb = NEB(images, climb=False, allow_shared_calculator=False, method="improvedtangent")
    neb.interpolate(method="idpp")
    return images, neb


def _energies(images) -> np.ndarray:
    return np.array([im.get_potential_energy() for im in images])


def _na_index(atoms: Atoms) -> int:
    return int(np.where(atoms.get_atomic_numbers() == 11)[0][-1])


def _na_distance(a: Atoms, b: Atoms, na: int) -> float:
    d = b.positions[na] - a.positions[na]
    cell = a.cell.array
    frac = np.linalg.solve(cell.T, d)
    frac[:2] -= np.round(frac[:2])
    return float(np.linalg.norm(cell.T @ frac))


def _intermediate_minimum(e: np.ndarray, tol_eV: float) -> int | None:
    """Index of the lowest interior image that is a local minimum of the band deeper than tol
    below its neighbours' maxima on both sides, or lies below either end by more than tol."""
    best = None
    for k in range(1, len(e) - 1):
        left, right = e[: k].max(), e[k + 1:].max()
        below_end = e[k] < min(e[0], e[-1]) - tol_eV
        well = e[k] < left - tol_eV and e[k] < right - tol_eV and e[k] <= e[k - 1] and e[k] <= e[k + 1]
        if (below_end or well) and (best is None or e[k] < e[best]):
            best = k
    return best


def orifice_hop_neb(
    spacing_nm: float,
    backend,
    n_images: int = 6,
    fmax_eV_A: float = 0.05,
    max_steps: int = 500,
    climb: bool = True,
    supercell=(4, 4),
    split_tol_eV: float = 0.005,
    max_splits: int = 2,
    end_points: tuple[Atoms, Atoms] | None = None,
) -> NebResult:
    """Climbing-image NEB of one Na hop between *adjacent* minima in a bilayer of ``spacing_nm``.

    1. The two end points (:func:`hop_end_points`, or ``end_points``) are relaxed (Na only).
    2. A plain NEB band (IDPP start) is relaxed to ``fmax_eV_A``. If an interior image is an
       intermediate minimum (a local minimum more than ``split_tol_eV`` below the band on both
       sides, or below either end by more than that), it is relaxed to a minimum and the hop is
       cut there: the new final state is that minimum, adjacent to the initial one
       (at most ``max_splits`` times).
    3. The plain band of the adjacent hop is relaxed only to ``2 fmax`` and the highest interior
       image then climbs (climbing-image NEB) until every force is below ``fmax_eV_A``; the climb
       is checked: the image moved, the band converged, and it is the highest image. Use an
       even ``n_images``: then no image sits at the midpoint of a symmetric hop, where the
       tangential force vanishes by symmetry and a climbing image would "converge" unmoved.
    """
    from ase.optimize import FIRE

    check_range("spacing_nm", spacing_nm, 0.30, 5.0, "nm")
    check_int("n_images", n_images, 1, 30)
    check_range("fmax_eV_A", fmax_eV_A, 0.0, 5.0, "eV/A", lo_inclusive=False)
    from nafill.workflows.engine.ladder import CostMeter

    t0 = time.perf_counter()
    meter = CostMeter()
    calls = [0]  # energy+force calls of the band images

    def relax(atoms):
        r = backend.relax(atoms, fmax_eV_A=fmax_eV_A / 5, max_steps=max_steps)
        meter.add(backend.name, r)
        return r.atoms()

    a0, a1 = end_points if end_points is not None else hop_end_points(spacing_nm, supercell)
    ini = relax(a0)
    fin = relax(a1)
    na = _na_index(ini)
    initial_hop = _na_distance(ini, fin, na)
    n_steps = 0
    splits: list[dict] = []
    initial_band: list[float] = []
    for _ in range(max_splits + 1):
        images, neb = _band(ini, fin, n_images, backend, calls)
        opt = FIRE(neb, logfile=None)
        opt.run(fmax=fmax_eV_A, steps=max_steps)
        n_steps += int(opt.nsteps)
        e = _energies(images)
        if not initial_band:
            initial_band = [float(x) for x in e - e[0]]
        k = _intermediate_minimum(e, split_tol_eV)
        if k is None:
            break
        mid = relax(images[k])
        d_ini, d_fin = _na_distance(ini, mid, na), _na_distance(mid, fin, na)
        if min(d_ini, d_fin) < 0.3:  # it relaxed back into an end point: nothing to split
            break
        splits.append({"image": int(k), "energy_eV": float(e[k] - e[0]), "hop_A": d_ini, "rest_A": d_fin})
        fin = mid
    # the adjacent hop: a loose plain band, then the climb
    images, neb = _band(ini, fin, n_images, backend, calls)
    opt = FIRE(neb, logfile=None)
    opt.run(fmax=2 * fmax_eV_A, steps=max_steps)
    n_steps += int(opt.nsteps)
    e = _energies(images)
    ci = int(np.argmax(e[1:-1])) + 1
    start = images[ci].positions[na].copy()
    converged = bool(opt.run(fmax=fmax_eV_A, steps=0)) if not climb else False
    climb_steps = 0
    if climb:
        neb.climb = True
        opt = FIRE(neb, logfile=None)
        converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
        climb_steps = int(opt.nsteps)
        n_steps += climb_steps
    energies = _energies(images)
    rel = energies - energies[0]
    forces = neb.get_forces()
    fmax = float(np.linalg.norm(forces.reshape(-1, 3), axis=1).max()) if forces.size else 0.0
    moved = float(np.linalg.norm(images[ci].positions[na] - start))
    highest = int(np.argmax(energies[1:-1])) + 1 == ci
    cost = meter.as_dict()
    mine = cost.setdefault(backend.name, {"evaluations": 0, "relaxations": 0, "single_points": 0, "wall_s": 0.0})
    mine["evaluations"] = int(mine["evaluations"]) + calls[0]
    mine["wall_s"] = round(time.perf_counter() - t0, 6)  # the whole NEB, band included
    return NebResult(
        spacing_nm=float(spacing_nm),
        barrier_eV=float(rel.max()),
        reverse_barrier_eV=float(energies.max() - energies[-1]),
        energies_eV=[float(x) for x in rel],
        hop_distance_A=_na_distance(ini, fin, na),
        converged=converged,
        max_force_eV_A=fmax,
        n_steps=n_steps,
        wall_s=time.perf_counter() - t0,
        images=images,
        path_A=[_na_distance(ini, im, na) for im in images],
        climbing_image=ci if climb else None,
        climb_displacement_A=moved,
        climb_steps=climb_steps,
        climbed=bool(climb and converged and climb_steps > 0 and moved > 1e-3 and highest),
        lowest_interior_eV=float(energies[1:-1].min() - energies[[0, -1]].min()) if len(energies) > 2 else 0.0,
        splits=splits,
        initial_band_eV=initial_band,
        initial_hop_distance_A=initial_hop,
        cost=cost,
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
