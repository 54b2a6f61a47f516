"""The ``emt`` surrogate: effective-medium Na plus a Na-wall pair term, for frozen carbon hosts.

ASE's EMT has no Na parameters and its C parameters are "not for serious use", so nafill builds
its surrogate from three physically separate parts:

``E = E_EMT(Na-Na) + sum_{Na, X} phi_NaX(r) + E_walls``

* **Na-Na**: the effective-medium theory of Jacobsen, Stoltze and Norskov exactly as ASE
  implements it (same formulas, ``asap_cutoff=True`` cutoff convention), with a Na parameter set
  fitted by :mod:`nafill.workflows.backends.fit_na_emt` to bcc Na (a = 4.20 A, cohesive energy
  1.10 eV, bulk modulus 7 GPa). A test checks this part against ``ase.calculators.emt.EMT`` with
  the same parameters to 1e-8 eV.
* **Na-host**: a Morse pair potential ``phi(r) = D (exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0)))``
  per host element (C, H, O), smoothly switched off between 5 and 6 A, fitted so that one Na on
  graphene sits in a hollow site ~2.4 A above the plane and binds 0.75 eV relative to the free atom
  (0.35 eV less than in bulk Na, so H(1) > 0 on one wall). Crossing a wall through a hexagon costs
  tens of eV, so no Na passes through a wall.
* **Walls**: a Lennard-Jones term between carbons of different walls (graphite-like dispersion,
  epsilon = 2.4 meV, sigma = 3.4 A). Bonding *inside* a wall is not modelled: the host must stay
  frozen (the backend refuses to relax free host atoms with this surrogate), or move as rigid
  walls along z (:class:`RigidWallsZ`, used to relax the Na-layer spacing models). Forces on host
  atoms (reactions of the Na-host term plus the inter-wall term) are computed for that purpose.

Energies are in eV, forces in eV/A. The calculator is vectorised with numpy and caches everything
that depends only on the host, so the cost of a call grows with the number of Na.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import log, sqrt

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr

from nafill.constants import WALL_ARRAY
from nafill.structures.geometry import wall_labels

BETA = 1.809  # (16 pi / 3)^(1/3) / sqrt(2), as rounded in ASE's EMT

# Fitted by nafill.workflows.backends.fit_na_emt (see its docstring for targets and results).
#          E0 (eV)   s0 (bohr)  V0 (eV)   eta2 (1/bohr) kappa (1/bohr) lambda (1/bohr)  n0 (1/bohr^3)
NA_EMT_PARAMETERS = (-1.16505, 3.78334, 0.1284, 3.6402, 2.0, 1.0, 0.0015)

# Morse parameters (D eV, alpha 1/A, r0 A) of the Na-host pair terms.
NA_HOST_MORSE = {
    "C": (0.06597, 1.47278, 2.93526),
    "H": (0.03000, 1.50000, 2.60000),
    "O": (0.20000, 1.5000, 2.4000),
}
PAIR_SWITCH_A = (5.0, 6.0)
WALL_LJ = (0.0024, 3.4, 10.0)  # epsilon eV, sigma A, cutoff A


def image_shifts(cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> np.ndarray:
    """Cartesian lattice shifts (A) needed to find every pair within ``cutoff`` of wrapped atoms."""
    cell = np.asarray(cell, float)
    rec = np.linalg.inv(cell).T
    widths = 1.0 / np.linalg.norm(rec, axis=1)
    n = [int(np.ceil(cutoff / w)) if p else 0 for w, p in zip(widths, pbc)]
    grid = np.array(list(itertools.product(*[range(-k, k + 1) for k in n])), float)
    return grid @ cell


def wrap_positions(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Positions folded into the cell along periodic directions."""
    frac = np.linalg.solve(np.asarray(cell).T, np.asarray(positions).T).T
    for k in range(3):
        if pbc[k]:
            frac[:, k] -= np.floor(frac[:, k])
    return frac @ np.asarray(cell)


def pairs_within(
    pos_a: np.ndarray, pos_b: np.ndarray, shifts: np.ndarray, cutoff: float, same: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (i in a, j in b, image) with |b_j + shift - a_i| < cutoff.

    Returns ``(i, j, D, r)`` with ``D = b_j + shift - a_i``. With ``same=True`` (a is b) the
    self pair (i == j, zero shift) is excluded and both orders are returned.
    """
    D = pos_b[None, None, :, :] + shifts[None, :, None, :] - pos_a[:, None, None, :]
    r2 = np.einsum("ijkl,ijkl->ijk", D, D)
    mask = r2 < cutoff * cutoff
    if same:
        zero = np.where(np.all(np.abs(shifts) < 1e-12, axis=1))[0]
        idx = np.arange(len(pos_a))
        mask[idx, zero[0], idx] = False
    i, s, j = np.nonzero(mask)
    Dm = D[i, s, j]
    return i, j, Dm, np.sqrt(r2[i, s, j])


@dataclass(frozen=True)
class EMTParameters:
    """EMT parameters of one element in ASE's units (eV, bohr) and the derived quantities."""

    E0: float
    s0_bohr: float
    V0: float
    eta2_bohr: float
    kappa_bohr: float
    lambda_bohr: float
    n0_bohr3: float
    s0: float = field(init=False)
    eta2: float = field(init=False)
    kappa: float = field(init=False)
    lam: float = field(init=False)
    rc: float = field(init=False)
    rc_list: float = field(init=False)
    acut: float = field(init=False)
    gamma1: float = field(init=False)
    gamma2: float = field(init=False)

    def __post_init__(self) -> None:
        s0 = self.s0_bohr * Bohr
        eta2 = self.eta2_bohr / Bohr
        kappa = self.kappa_bohr / Bohr
        r1nn = BETA * s0
        rc = r1nn * 0.5 * (sqrt(3.0) + 2.0)
        acut = log(1.0 / 1e-4 - 1.0) / (2.0 * r1nn - rc)
        n = np.array([12, 6, 24])
        r = BETA * s0 * np.sqrt([1.0, 2.0, 3.0])
        w = 1.0 / (1.0 + np.exp(acut * (r - rc)))
        x = n * w / 12.0
        object.__setattr__(self, "s0", s0)
        object.__setattr__(self, "eta2", eta2)
        object.__setattr__(self, "kappa", kappa)
        object.__setattr__(self, "lam", self.lambda_bohr / Bohr)
        object.__setattr__(self, "rc", rc)
        object.__setattr__(self, "rc_list", rc * 1.045)
        object.__setattr__(self, "acut", acut)
        object.__setattr__(self, "gamma1", float(x @ np.exp(-eta2 * (r - BETA * s0))))
        object.__setattr__(self, "gamma2", float(x @ np.exp(-kappa / BETA * (r - BETA * s0))))

    @classmethod
    def from_tuple(cls, p: tuple[float, ...]) -> EMTParameters:
        return cls(*map(float, p))

    def as_tuple(self) -> tuple[float, ...]:
        return (self.E0, self.s0_bohr, self.V0, self.eta2_bohr, self.kappa_bohr, self.lambda_bohr, self.n0_bohr3)


def emt_single_element(
    p: EMTParameters, i: np.ndarray, j: np.ndarray, D: np.ndarray, r: np.ndarray, n_atoms: int
) -> tuple[float, np.ndarray]:
    """EMT energy (eV) and forces (eV/A) of a one-element system from its ordered pair list.

    ``i, j, D, r`` list every ordered neighbour pair within ``p.rc_list`` (both orders), with
    ``D = R_j - R_i``. Same formulas as :class:`ase.calculators.emt.EMT`.
    """
    forces = np.zeros((n_atoms, 3))
    if len(i) == 0:
        return float(-p.E0 * n_atoms), forces
    w = 1.0 / (1.0 + np.exp(p.acut * (r - p.rc)))
    dwdr_over_w = p.acut * (w - 1.0)
    g = w * np.exp(-p.eta2 * (r - BETA * p.s0))
    sigma1 = np.bincount(i, weights=g, minlength=n_atoms)
    has = sigma1 > 0
    energies = np.zeros(n_atoms)
    deds = np.zeros(n_atoms)
    s = np.zeros(n_atoms)
    s[has] = -np.log(sigma1[has] / (12.0 * p.gamma1)) / (BETA * p.eta2)
    lam_s = p.lam * s
    e_lam = np.exp(-lam_s)
    e_kap = 6.0 * p.V0 * np.exp(-p.kappa * s)
    energies[has] = (p.E0 * (1.0 + lam_s) * e_lam + e_kap)[has]
    deds[has] = (-p.E0 * p.lam * lam_s * e_lam - p.kappa * e_kap)[has]
    dEdsigma = np.zeros(n_atoms)
    dEdsigma[has] = deds[has] / (-BETA * p.eta2 * sigma1[has])
    # pair (atomic-sphere correction) term, both orders counted
    h = (-0.5 * p.V0 / p.gamma2) * w * np.exp(-p.kappa * (r / BETA - p.s0))
    energies += np.bincount(i, weights=h, minlength=n_atoms)
    energies -= p.E0
    # derivatives along each ordered pair
    c = dEdsigma[i] * g * (dwdr_over_w - p.eta2) + h * (dwdr_over_w - p.kappa / BETA)
    f = (c / r)[:, None] * D
    for k in range(3):
        forces[:, k] += np.bincount(i, weights=f[:, k], minlength=n_atoms)
        forces[:, k] -= np.bincount(j, weights=f[:, k], minlength=n_atoms)
    return float(energies.sum()), forces


def morse_switched(
    r: np.ndarray, D0: float, alpha: float, r0: float, r_on: float, r_off: float
) -> tuple[np.ndarray, np.ndarray]:
    """Morse pair energy (eV) and dE/dr (eV/A), multiplied by a cosine switch on [r_on, r_off]."""
    e1 = np.exp(-alpha * (r - r0))
    phi = D0 * (e1 * e1 - 2.0 * e1)
    dphi = D0 * (-2.0 * alpha * e1 * e1 + 2.0 * alpha * e1)
    x = np.clip((r - r_on) / (r_off - r_on), 0.0, 1.0)
    sw = 0.5 * (1.0 + np.cos(np.pi * x))
    dsw = np.where((r > r_on) & (r < r_off), -0.5 * np.pi * np.sin(np.pi * x) / (r_off - r_on), 0.0)
    return phi * sw, dphi * sw + phi * dsw


class NaCarbonEMT(Calculator):
    """The ``emt`` surrogate calculator (see the module docstring for the model).

    Args:
        na_parameters: EMT 7-tuple for Na (ASE units); default :data:`NA_EMT_PARAMETERS`.
        host_morse: ``{element: (D, alpha, r0)}`` Na-host Morse parameters.
        wall_lj: ``(epsilon eV, sigma A, cutoff A)`` of the inter-wall C-C term, or None.
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    nolabel = True

    def __init__(
        self,
        na_parameters: tuple[float, ...] = NA_EMT_PARAMETERS,
        host_morse: dict[str, tuple[float, float, float]] | None = None,
        wall_lj: tuple[float, float, float] | None = WALL_LJ,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.na = EMTParameters.from_tuple(na_parameters)
        self.host_morse = dict(NA_HOST_MORSE if host_morse is None else host_morse)
        self.wall_lj = wall_lj
        self._host_key: bytes | None = None
        self._host_cache: dict = {}

    # ---------------------------------------------------------------- host-only cache
    def _host_terms(self, atoms: Atoms, host: np.ndarray) -> dict:
        """Everything that depends on the host alone, recomputed only when it changes."""
        key = (
            atoms.positions[host].tobytes()
            + atoms.numbers[host].tobytes()
            + np.array(atoms.cell).tobytes()
            + atoms.pbc.tobytes()
        )
        if key == self._host_key:
            return self._host_cache
        cell = np.array(atoms.cell)
        r_off = PAIR_SWITCH_A[1]
        shifts = image_shifts(cell, atoms.pbc, r_off)
        hpos = wrap_positions(atoms.positions[host], cell, atoms.pbc)
        images = (hpos[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
        elements = np.tile(atoms.numbers[host], len(shifts))
        # the walls' own energy (frozen: forces on host atoms are not needed by the fill)
        e_walls, f_walls = 0.0, np.zeros((len(host), 3))
        if self.wall_lj is not None and WALL_ARRAY in atoms.arrays:
            e_walls, f_walls = self._wall_terms(atoms, host, cell)
        symbols = {int(z): Atoms(numbers=[z]).get_chemical_symbols()[0] for z in np.unique(elements)}
        for sym in symbols.values():
            if sym not in self.host_morse:
                raise NotImplementedError(
                    f"the emt surrogate has no Na-{sym} parameters (it knows {sorted(self.host_morse)})"
                )
        self._host_cache = {
            "images": images,
            "elements": elements,
            "symbols": symbols,
            "e_walls": e_walls,
            "f_walls": f_walls,
            "n_host": len(host),
            "na_shifts": image_shifts(cell, atoms.pbc, self.na.rc_list),
        }
        self._host_key = key
        return self._host_cache

    def _wall_terms(self, atoms: Atoms, host: np.ndarray, cell: np.ndarray) -> tuple[float, np.ndarray]:
        """Inter-wall C-C Lennard-Jones energy (eV, shifted at the cutoff) and forces on the host."""
        eps, sigma, rcut = self.wall_lj
        forces = np.zeros((len(host), 3))
        walls = atoms.arrays[WALL_ARRAY][host]
        carbon = atoms.numbers[host] == 6
        lo_idx = np.where((walls == 1) & carbon)[0]
        up_idx = np.where((walls == 2) & carbon)[0]
        if len(lo_idx) == 0 or len(up_idx) == 0:
            return 0.0, forces
        pos = atoms.positions[host]
        shifts = image_shifts(cell, atoms.pbc, rcut)
        i, j, D, r = pairs_within(
            wrap_positions(pos[lo_idx], cell, atoms.pbc), wrap_positions(pos[up_idx], cell, atoms.pbc),
            shifts, rcut, False,
        )
        sr6 = (sigma / r) ** 6
        sc6 = (sigma / rcut) ** 6
        energy = float(np.sum(4 * eps * (sr6 * sr6 - sr6) - 4 * eps * (sc6 * sc6 - sc6)))
        dedr = 4 * eps * (-12 * sr6 * sr6 + 6 * sr6) / r
        f = (dedr / r)[:, None] * D  # force on the lower-wall atom (D points lower -> upper)
        for c in range(3):
            forces[lo_idx, c] += np.bincount(i, weights=f[:, c], minlength=len(lo_idx))
            forces[up_idx, c] -= np.bincount(j, weights=f[:, c], minlength=len(up_idx))
        return energy, forces

    # ---------------------------------------------------------------- state
    def check_state(self, atoms, tol=1e-15):
        """Exact, cheap change detection (ASE's generic one compares every array with allclose)."""
        if self.atoms is None:
            return list(all_changes)
        if len(atoms) != len(self.atoms) or not np.array_equal(atoms.numbers, self.atoms.numbers):
            return list(all_changes)
        changes = []
        if not np.array_equal(atoms.positions, self.atoms.positions):
            changes.append("positions")
        if not np.array_equal(np.array(atoms.cell), np.array(self.atoms.cell)) or not np.array_equal(
            atoms.pbc, self.atoms.pbc
        ):
            changes += ["cell", "pbc"]
        return changes

    # ---------------------------------------------------------------- calculate
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        na_mask = atoms.numbers == 11
        na = np.where(na_mask)[0]
        host = np.where(~na_mask)[0]
        cell = np.array(atoms.cell)
        forces = np.zeros((len(atoms), 3))
        energy = 0.0
        if len(host):
            cache = self._host_terms(atoms, host)
            energy += cache["e_walls"]
            forces[host] += cache["f_walls"]
        if len(na):
            shifts = cache["na_shifts"] if len(host) else image_shifts(cell, atoms.pbc, self.na.rc_list)
            npos = wrap_positions(atoms.positions[na], cell, atoms.pbc)
            i, j, D, r = pairs_within(npos, npos, shifts, self.na.rc_list, True)
            e_na, f_na = emt_single_element(self.na, i, j, D, r, len(na))
            energy += e_na
            forces[na] += f_na
            if len(host):
                e_h, f_h, f_host = self._na_host(npos, cache)
                energy += e_h
                forces[na] += f_h
                forces[host] += f_host
        self.results["energy"] = self.results["free_energy"] = float(energy)
        self.results["forces"] = forces

    def _na_host(self, npos: np.ndarray, cache: dict) -> tuple[float, np.ndarray, np.ndarray]:
        """Na-host pair energy, forces on the Na and the reaction forces on the host atoms."""
        r_on, r_off = PAIR_SWITCH_A
        images, elements = cache["images"], cache["elements"]
        D = images[None, :, :] - npos[:, None, :]
        r2 = np.einsum("ijk,ijk->ij", D, D)
        i, k = np.nonzero(r2 < r_off * r_off)
        Dm = D[i, k]
        r = np.sqrt(r2[i, k])
        el = elements[k]
        e = np.zeros(len(r))
        dedr = np.zeros(len(r))
        for z, sym in cache["symbols"].items():
            sel = el == z
            if sel.any():
                e[sel], dedr[sel] = morse_switched(r[sel], *self.host_morse[sym], r_on, r_off)
        f = (dedr / r)[:, None] * Dm  # force on the Na: +dE/dr along Na->host
        forces = np.zeros((len(npos), 3))
        n_host = cache["n_host"]
        host_forces = np.zeros((n_host, 3))
        owner = k % n_host  # image index -> host atom
        for c in range(3):
            forces[:, c] = np.bincount(i, weights=f[:, c], minlength=len(npos))
            host_forces[:, c] = -np.bincount(owner, weights=f[:, c], minlength=n_host)
        return float(e.sum()), forces, host_forces


def rigid_walls(atoms: Atoms) -> RigidWallsZ:
    """The RigidWallsZ constraint of a pore model: one group per wall label present."""
    labels = wall_labels(atoms)
    return RigidWallsZ([np.where(labels == w)[0] for w in (1, 2) if (labels == w).any()])


class RigidWallsZ:
    """ASE constraint: every wall moves as one rigid sheet along z only.

    Forces on a wall's atoms are replaced by the wall's mean z force (so the optimizer sees the
    wall's total force); a position update moves all atoms of a wall by their mean z step.
    """

    def __init__(self, groups) -> None:
        self.groups = [np.asarray(g, int) for g in groups]

    def adjust_positions(self, atoms, new):
        for g in self.groups:
            dz = (new[g, 2] - atoms.positions[g, 2]).mean()
            new[g] = atoms.positions[g]
            new[g, 2] += dz

    def adjust_forces(self, atoms, forces):
        for g in self.groups:
            fz = forces[g, 2].mean()
            forces[g] = 0.0
            forces[g, 2] = fz

    def get_removed_dof(self, atoms):
        return sum(3 * len(g) - 1 for g in self.groups)

    def index_shuffle(self, atoms, ind):  # pragma: no cover - not used on slices
        raise NotImplementedError

    def todict(self):
        return {"name": "RigidWallsZ", "kwargs": {"groups": [g.tolist() for g in self.groups]}}

    def copy(self):
        return RigidWallsZ(self.groups)
