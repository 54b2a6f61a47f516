"""The ``surrogate`` calculator: a many-body Na-carbon model distilled from SevenNet-0, in numpy.

Form (what was tried and why this one is in the fit script's docstring,
:mod:`nafill.workflows.backends.surrogate.fit`)::

    E = sum_{i in Na} eps(G_i) + sum_{pairs} core(r) + E_walls

* ``G_i`` is a smooth radial fingerprint of Na atom i: Gaussians ``exp(-((r - mu_k)/sigma)^2)``
  times a cosine cutoff, summed over the Na neighbours (one channel set) and over the carbon
  neighbours (another). The Na-Na channels are a multi-density embedded-atom description of the
  metal; the Na-C channels tell hollow from top sites, the height above a wall, and whether the
  Na touches one wall or two (orifices).
* Angular moments (:func:`angular_moments`): per radial channel of a shorter basis, the squared
  dipole ``|sum_j g(r_ij) u_ij|^2`` and quadrupole ``||sum_j g(r_ij)(u_ij u_ij^T - I/3)||^2``
  of the Na neighbours and of the carbon neighbours: the l = 1, 2 three-body invariants in
  O(neighbours). They tell a surface Na of a cluster from an inner one, a compact cluster from a
  flat island, and one wall from two (the orifice squeeze), which radial sums alone blur.
  A parameter file with ``ang_powers = P`` uses the fuller angular power spectrum of
  :func:`power_spectrum` instead (every pair of channels, ``(u_j . u_k)^p`` for p = 0..P: the
  Legendre content l <= P of the three-body distribution, still O(neighbours)); the l = 1, 2
  moments are linear combinations of it (:func:`moments_from_power_spectrum`).
* ``eps`` is a small tanh network of G_i: it learns how the Na-C binding of an isolated,
  ionised Na fades as the Na becomes metallic inside a cluster (the coupling of the two channel
  sets), which a pair potential or EMT cannot express. The parameter file may hold a committee:
  several networks fitted to the same data from different random initial weights
  (:class:`Network`); ``eps`` is then their mean, which averages out the part of each network's
  error that depends on where its fit started (the fit script's docstring has the figures).
* ``core`` is a fixed short-range repulsion (``A (r_c - r)^3`` inside ``r_c``) that keeps atoms
  apart where the training set has no data.
* ``E_walls`` is the inter-wall C-C Lennard-Jones term of the ``emt`` surrogate, so that walls
  can move as rigid sheets in the spacing workflow; non-carbon host atoms (edge H, defect O)
  interact with Na through the ``emt`` surrogate's Morse terms (not fitted to SevenNet-0).

The host's own energy is not modelled (it is constant for frozen walls): energies are
``E_SevenNet(x) - E_SevenNet(host)``, so formation enthalpies ``H(x) = E(x) - E(0) - x mu_Na``
compare directly with SevenNet-0's. Energies in eV, forces in eV/A. Everything that depends
only on the host (wrapped carbon positions, periodic images, wall terms) is cached, so a call
costs O(N_Na x neighbours).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from nafill.constants import WALL_ARRAY
from nafill.workflows.backends.emt_surrogate import (
    NA_HOST_MORSE,
    PAIR_SWITCH_A,
    WALL_LJ,
    NaCarbonEMT,
    image_shifts,
    pairs_within,
    wrap_positions,
)

PARAMETERS_FILE = Path(__file__).resolve().parent / "na_c_sevennet0.json"


@dataclass
class RadialBasis:
    """Gaussian radial channels with a cosine cutoff (A)."""

    mu_A: np.ndarray
    sigma_A: float
    cutoff_A: float

    def __call__(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (n_pairs, n_channels) and their derivatives d/dr."""
        rc = self.cutoff_A
        fc = 0.5 * (np.cos(np.pi * r / rc) + 1.0)
        dfc = -0.5 * np.pi / rc * np.sin(np.pi * r / rc)
        x = (r[:, None] - self.mu_A[None, :]) / self.sigma_A
        g = np.exp(-x * x)
        dg = g * (-2.0 * x / self.sigma_A)
        return g * fc[:, None], dg * fc[:, None] + g * dfc[:, None]


def core_repulsion(r: np.ndarray, a_eV_A3: float, rc_A: float) -> tuple[np.ndarray, np.ndarray]:
    """``A (rc - r)^3`` for r < rc (eV) and its derivative d/dr."""
    d = np.clip(rc_A - r, 0.0, None)
    return a_eV_A3 * d**3, -3.0 * a_eV_A3 * d**2


@dataclass
class Network:
    """One per-Na network: input normalisation and tanh layers (the last layer linear)."""

    x_mean: np.ndarray
    x_std: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        return cls(np.asarray(d["x_mean"], float), np.asarray(d["x_std"], float),
                   [np.asarray(w, float) for w in d["weights"]], [np.asarray(b, float) for b in d["biases"]])

    @property
    def hidden(self) -> list[int]:
        """Widths of the hidden layers."""
        return [w.shape[1] for w in self.weights[:-1]]

    def as_dict(self) -> dict[str, Any]:
        return {"x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist(),
                "weights": [w.tolist() for w in self.weights], "biases": [b.tolist() for b in self.biases]}

    def energy(self, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-Na energies (eV) and dE/dG for fingerprints ``G`` (n_na, n_channels)."""
        x = (G - self.x_mean) / self.x_std
        acts = [x]
        h = x
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.tanh(h @ W + b)
            acts.append(h)
        e = (h @ self.weights[-1] + self.biases[-1])[:, 0]
        grad = np.repeat(self.weights[-1].T, len(G), axis=0)  # dE/dh_last
        for k in range(len(self.weights) - 2, -1, -1):
            grad = (grad * (1.0 - acts[k + 1] ** 2)) @ self.weights[k].T
        return e, grad / self.x_std


@dataclass
class SurrogateParameters:
    """Everything that defines the model (read from the shipped JSON file).

    ``networks``: one network, or a committee whose mean is the per-Na energy. ``meta`` describes
    the fit; a committee's ``meta["members"]`` holds each member's own fit description.
    """

    na_na: RadialBasis
    na_c: RadialBasis
    core_na_na: tuple[float, float]
    core_na_c: tuple[float, float]
    networks: list[Network]
    meta: dict[str, Any]
    na_na_ang: RadialBasis | None = None  # angular moments of the Na neighbours (None: radial only)
    na_c_ang: RadialBasis | None = None   # angular moments of the carbon neighbours
    ang_powers: int | None = None          # None: l = 1, 2 moments; P: the power spectrum to p = P

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SurrogateParameters:
        """Read a parameter document: a committee (``networks``) or one network (its keys at the
        top level, the layout of a single fit)."""
        def basis(b):
            return RadialBasis(np.asarray(b["mu_A"], float), float(b["sigma_A"]), float(b["cutoff_A"]))

        nets = d["networks"] if "networks" in d else [d]
        return cls(
            na_na=basis(d["na_na"]), na_c=basis(d["na_c"]),
            core_na_na=tuple(d["core_na_na"]), core_na_c=tuple(d["core_na_c"]),
            networks=[Network.from_dict(n) for n in nets],
            meta=dict(d.get("meta", {})),
            na_na_ang=basis(d["na_na_ang"]) if d.get("na_na_ang") else None,
            na_c_ang=basis(d["na_c_ang"]) if d.get("na_c_ang") else None,
            ang_powers=int(d["ang_powers"]) if d.get("ang_powers") else None,
        )

    def fingerprint_dict(self) -> dict[str, Any]:
        """What defines the fingerprints and the core terms (the part of :meth:`as_dict` that
        committee members must share)."""
        def basis(b):
            return {"mu_A": b.mu_A.tolist(), "sigma_A": b.sigma_A, "cutoff_A": b.cutoff_A}

        doc = {
            "na_na": basis(self.na_na), "na_c": basis(self.na_c),
            "core_na_na": list(self.core_na_na), "core_na_c": list(self.core_na_c),
            "na_na_ang": basis(self.na_na_ang) if self.na_na_ang else None,
            "na_c_ang": basis(self.na_c_ang) if self.na_c_ang else None,
        }
        if self.ang_powers is not None:  # absent from files of the l = 1, 2 form
            doc["ang_powers"] = self.ang_powers
        return doc

    def as_dict(self) -> dict[str, Any]:
        doc = {**self.fingerprint_dict(), "meta": self.meta}
        if len(self.networks) == 1:
            doc.update(self.networks[0].as_dict())
        else:
            doc["networks"] = [n.as_dict() for n in self.networks]
        return doc

    def same_fingerprint(self, other: SurrogateParameters) -> bool:
        """True when ``other`` computes the same fingerprints (it may join a committee)."""
        return self.fingerprint_dict() == other.fingerprint_dict()

    @property
    def n_radial(self) -> int:
        return len(self.na_na.mu_A) + len(self.na_c.mu_A)

    def n_angular(self, basis: RadialBasis) -> int:
        """Fingerprint columns of one angular block: 2 per channel (l = 1, 2 moments), or one per
        power and pair of channels (:func:`power_spectrum`)."""
        k = len(basis.mu_A)
        return 2 * k if self.ang_powers is None else (self.ang_powers + 1) * k * (k + 1) // 2

    @property
    def n_channels(self) -> int:
        """Columns of the fingerprint: radial Na-Na, radial Na-C, then the angular blocks."""
        return self.n_radial + sum(self.n_angular(b) for b in (self.na_na_ang, self.na_c_ang) if b)


@lru_cache(maxsize=4)
def load_parameters(path: str | None = None) -> SurrogateParameters:
    """The shipped parameters (or those in ``path``)."""
    p = Path(path) if path else PARAMETERS_FILE
    return SurrogateParameters.from_dict(json.loads(p.read_text()))


def surrogate_calculator(parameters_file: str | None = None, **kwargs) -> NaCarbonSurrogate:
    """The surrogate as a plain ASE calculator from a parameter file (default: the shipped one),
    for the ``module:factory`` backend: ``--calculator
    nafill.workflows.backends.surrogate.model:surrogate_calculator --calc-option
    parameters_file='"other.json"'`` runs another committee (e.g. a candidate fit) as a backend of
    its own, beside or under the shipped ``surrogate``. Other keywords go to the calculator."""
    return NaCarbonSurrogate(load_parameters(parameters_file), **kwargs)


def network_energy(params: SurrogateParameters, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-Na energies eps(G) (eV) and dE/dG for fingerprints ``G`` (n_na, n_channels): the
    network's, or the mean of a committee's."""
    e, grad = params.networks[0].energy(G)
    for net in params.networks[1:]:
        e_k, grad_k = net.energy(G)
        e, grad = e + e_k, grad + grad_k
    n = len(params.networks)
    return e / n, grad / n


def committee(members: list[SurrogateParameters]) -> SurrogateParameters:
    """One parameter set whose per-Na energy is the mean of ``members``' networks (each member
    fitted on its own, e.g. from another seed); the members must share the fingerprint."""
    first = members[0]
    for m in members[1:]:
        if not first.same_fingerprint(m):
            raise ValueError("committee members must share the fingerprint (bases and core terms)")
    nets = [n for m in members for n in m.networks]
    metas = [mm for m in members for mm in (m.meta.get("members") or [m.meta])]
    meta = {"reference": first.meta.get("reference"), "members": metas}
    return SurrogateParameters(first.na_na, first.na_c, first.core_na_na, first.core_na_c, nets, meta,
                               first.na_na_ang, first.na_c_ang, first.ang_powers)


def scatter_rows(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``out[i] = sum of values[p] over p with idx[p] == i`` for values of any trailing shape."""
    tail = values.shape[1:]
    m = int(np.prod(tail)) if tail else 1
    flat = (idx[:, None] * m + np.arange(m)[None, :]).ravel()
    out = np.bincount(flat, weights=values.reshape(len(idx), m).ravel(), minlength=n * m)
    return out.astype(float, copy=False).reshape((n, *tail))  # bincount of nothing is int


def angular_moments(basis: RadialBasis, centre: np.ndarray, D: np.ndarray, r: np.ndarray,
                    n_centres: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angular moments of each centre's neighbourhood, per radial channel c of ``basis``.

    With ``u`` the unit vector to a neighbour and ``g_c`` the channel's radial function::

        P1_c = |sum_j g_c(r_j) u_j|^2              (dipole: how one-sided the neighbourhood is)
        P2_c = ||sum_j g_c(r_j) (u_j u_j^T - I/3)||^2  (quadrupole: planar / linear / compact)

    These are the l = 1 and l = 2 three-body invariants (sums over neighbour pairs of
    ``g g P_l(cos theta)``) computed in O(neighbours). Pairs (centre, D = r_j - r_i, r) beyond the
    basis cutoff are dropped. Returns the features ``(n_centres, 2k)`` (P1 then P2), the pairs
    kept (a boolean mask) and ``J (n_kept, 2k, 3)``: the derivative of the centre's features with
    respect to the pair vector D.
    """
    keep = r < basis.cutoff_A
    idx, rm = centre[keep], r[keep]
    u = D[keep] / rm[:, None]
    g, dg = basis(rm)
    uu = u[:, :, None] * u[:, None, :] - np.eye(3) / 3.0
    V = scatter_rows(idx, g[:, :, None] * u[:, None, :], n_centres)            # (n, k, 3)
    T = scatter_rows(idx, g[:, :, None, None] * uu[:, None], n_centres)        # (n, k, 3, 3)
    feats = np.concatenate([(V * V).sum(-1), (T * T).sum((-1, -2))], axis=1)
    Vp, Tp = V[idx], T[idx]
    Vu = np.einsum("pka,pa->pk", Vp, u)
    Tu = np.einsum("pkab,pb->pka", Tp, u)
    uTu = np.einsum("pka,pa->pk", Tu, u)
    gr = (g / rm[:, None])[:, :, None]
    J1 = 2.0 * (dg * Vu)[:, :, None] * u[:, None, :] + 2.0 * gr * (Vp - Vu[:, :, None] * u[:, None, :])
    J2 = 2.0 * (dg * uTu)[:, :, None] * u[:, None, :] + 4.0 * gr * (Tu - uTu[:, :, None] * u[:, None, :])
    return feats, keep, np.concatenate([J1, J2], axis=1)


def power_spectrum(basis: RadialBasis, centre: np.ndarray, D: np.ndarray, r: np.ndarray,
                   n_centres: int, powers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The angular power spectrum of each centre's neighbourhood, to power ``powers``.

    With ``u`` the unit vector to a neighbour and ``g_c`` channel c's radial function, the moment
    tensors ``M_pc = sum_j g_c(r_j) u_j^(x p)`` (p-fold outer product) give, for p = 0..P and
    channels c <= c'::

        F_pcc' = <M_pc, M_pc'> = sum_{j,k} g_c(r_j) g_c'(r_k) (u_j . u_k)^p

    whose combinations over p are the Legendre invariants ``sum g g P_l(cos theta)`` for l <= P
    (the l = 1, 2 moments of :func:`angular_moments` among them) between every pair of radial
    channels: the three-body part of a SOAP-like power spectrum, computed in O(neighbours x 3^P).
    Returns the features ``(n_centres, (P+1) k(k+1)/2)`` (by power, then channel pairs in
    ``np.triu_indices`` order), the pairs kept and ``J (n_kept, n_features, 3)``, the derivative
    of the centre's features with respect to the pair vector D.
    """
    keep = r < basis.cutoff_A
    idx, rm = centre[keep], r[keep]
    u = D[keep] / rm[:, None]
    g, dg = basis(rm)
    k = len(basis.mu_A)
    iu, ju = np.triu_indices(k)
    feats, jacs = [], []
    up_prev = up = np.ones((len(rm), 1))      # u^(x (p-1)) and u^(x p), flattened
    for p in range(powers + 1):
        if p:
            up_prev, up = up, (up[:, :, None] * u[:, None, :]).reshape(len(rm), 3**p)
        M = scatter_rows(idx, g[:, :, None] * up[:, None, :], n_centres)     # (n, k, 3^p)
        feats.append(np.einsum("nkm,nkm->nk", M[:, iu], M[:, ju]))
        Mp = M[idx]                                                           # (pairs, k, 3^p)
        A = np.einsum("pkm,pm->pk", Mp, up)                                   # M . u^p
        B = (np.einsum("pkma,pm->pka", Mp.reshape(len(rm), k, 3 ** (p - 1), 3), up_prev) if p  # M . u^(p-1)
             else np.zeros((len(rm), k, 3)))
        # d<M_c, X>/dD for X = M_c' (symmetric): g_c' (X.u^p) u + g_c p/r (X.u^(p-1) - (X.u^p) u)
        Au = A[:, :, None] * u[:, None, :]
        Q = (dg[:, :, None, None] * Au[:, None, :, :]
             + (g * p / rm[:, None])[:, :, None, None] * (B - Au)[:, None, :, :])  # (pairs, c, c', 3)
        jacs.append(Q[:, iu, ju] + Q[:, ju, iu])
    return np.concatenate(feats, axis=1), keep, np.concatenate(jacs, axis=1)


def moments_from_power_spectrum(k: int, powers: int) -> np.ndarray:
    """The matrix ``A`` (2k, (P+1) k(k+1)/2) with ``moments = A @ spectrum`` for one angular block
    of k channels: the l = 1, 2 moments of :func:`angular_moments` from the power spectrum of
    :func:`power_spectrum` with the same basis (``P1_c = F_1cc``; ``P2_c = F_2cc - F_0cc / 3``,
    since ``<uu - I/3, vv - I/3> = (u.v)^2 - 1/3``). Needs P >= 2."""
    if powers < 2:
        raise ValueError(f"the l = 2 moments need powers >= 2 (got {powers})")
    iu, ju = np.triu_indices(k)
    n_pairs = len(iu)
    diag = {c: int(np.nonzero((iu == c) & (ju == c))[0][0]) for c in range(k)}
    A = np.zeros((2 * k, (powers + 1) * n_pairs))
    for c in range(k):
        A[c, 1 * n_pairs + diag[c]] = 1.0
        A[k + c, 2 * n_pairs + diag[c]] = 1.0
        A[k + c, 0 * n_pairs + diag[c]] = -1.0 / 3.0
    return A


@dataclass
class AngularBlock:
    """Angular fingerprint columns ``cols`` and, per pair kept, centre Na, neighbour and dF/dD."""

    cols: slice
    centre: np.ndarray
    neighbour: np.ndarray   # Na index (Na-Na block) or carbon index (Na-C block)
    J: np.ndarray           # (n_pairs, n_cols, 3)

    def pair_gradients(self, dEdG: np.ndarray) -> np.ndarray:
        """dE/dD (n_pairs, 3) of the block's pairs, given dE/dG (n_na, n_channels)."""
        return np.einsum("pk,pka->pa", dEdG[self.centre, self.cols], self.J)


@dataclass
class Fingerprints:
    """Fingerprints of the Na atoms and the pair data needed for forces."""

    G: np.ndarray          # (n_na, n_channels)
    nn_i: np.ndarray       # Na-Na pairs: centre Na (index into the Na list)
    nn_j: np.ndarray       #              neighbour Na
    nn_u: np.ndarray       #              unit vectors i -> j
    nn_dG: np.ndarray      #              dG/dr (n_pairs, n_na_na_channels)
    nc_i: np.ndarray       # Na-C pairs: Na
    nc_k: np.ndarray       #             carbon (index into the carbon list)
    nc_u: np.ndarray
    nc_dG: np.ndarray
    e_core: float
    nn_core_dr: np.ndarray  # d core / dr per Na-Na pair (each pair counted once per order)
    nc_core_dr: np.ndarray
    ang_na: AngularBlock | None = None
    ang_c: AngularBlock | None = None


def fingerprints(params: SurrogateParameters, na_pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                 c_images: np.ndarray | None, n_carbon: int, na_shifts: np.ndarray | None = None) -> Fingerprints:
    """Fingerprints of Na atoms at ``na_pos`` (wrapped) with carbon images ``c_images``
    (``(n_images * n_carbon, 3)``, image-major) around them: radial channels, then the angular
    moments of :func:`angular_moments` when the parameters have angular bases."""
    n_na = len(na_pos)
    kn = len(params.na_na.mu_A)
    G = np.zeros((n_na, params.n_channels))
    shifts = na_shifts if na_shifts is not None else image_shifts(cell, pbc, params.na_na.cutoff_A)
    i, j, D, r = pairs_within(na_pos, na_pos, shifts, params.na_na.cutoff_A, True)
    g, dg = params.na_na(r)
    for c in range(kn):
        G[:, c] = np.bincount(i, weights=g[:, c], minlength=n_na)
    e_nn, dnn = core_repulsion(r, *params.core_na_na)
    e_core = 0.5 * float(e_nn.sum())
    nn_u = D / r[:, None]
    if c_images is not None and len(c_images):
        rc = params.na_c.cutoff_A
        Dc = c_images[None, :, :] - na_pos[:, None, :]
        r2 = np.einsum("ijk,ijk->ij", Dc, Dc)
        ii, kk = np.nonzero(r2 < rc * rc)
        Dm = Dc[ii, kk]
        rr = np.sqrt(r2[ii, kk])
        gc, dgc = params.na_c(rr)
        for c in range(len(params.na_c.mu_A)):
            G[:, kn + c] = np.bincount(ii, weights=gc[:, c], minlength=n_na)
        e_nc, dnc = core_repulsion(rr, *params.core_na_c)
        e_core += float(e_nc.sum())
        nc = (ii, kk % n_carbon, Dm / rr[:, None], dgc, dnc)
    else:
        z = np.zeros(0, int)
        Dm, rr = np.zeros((0, 3)), np.zeros(0)
        nc = (z, z, np.zeros((0, 3)), np.zeros((0, len(params.na_c.mu_A))), np.zeros(0))
    col = params.n_radial
    blocks = []
    for basis, centre, neighbour, Dp, rp in ((params.na_na_ang, i, j, D, r), (params.na_c_ang, nc[0], nc[1], Dm, rr)):
        if basis is None:
            blocks.append(None)
            continue
        if params.ang_powers is None:
            feats, keep, J = angular_moments(basis, centre, Dp, rp, n_na)
        else:
            feats, keep, J = power_spectrum(basis, centre, Dp, rp, n_na, params.ang_powers)
        cols = slice(col, col + feats.shape[1])
        G[:, cols] = feats
        blocks.append(AngularBlock(cols, centre[keep], neighbour[keep], J))
        col = cols.stop
    return Fingerprints(G, i, j, nn_u, dg, nc[0], nc[1], nc[2], nc[3], e_core, 0.5 * dnn, nc[4],
                        blocks[0], blocks[1])


class NaCarbonSurrogate(Calculator):
    """The ``surrogate`` calculator (see the module docstring).

    Args:
        parameters: a :class:`SurrogateParameters` (default: the shipped fit to SevenNet-0).
        wall_lj: ``(epsilon eV, sigma A, cutoff A)`` of the inter-wall C-C term, or None.
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    nolabel = True

    def __init__(self, parameters: SurrogateParameters | None = None,
                 wall_lj: tuple[float, float, float] | None = WALL_LJ, **kwargs) -> None:
        super().__init__(**kwargs)
        self.params = parameters or load_parameters()
        self.wall_lj = wall_lj
        self._emt = NaCarbonEMT(wall_lj=wall_lj)  # wall terms and the Morse terms of H/O
        self._host_key: bytes | None = None
        self._host: dict = {}

    check_state = NaCarbonEMT.check_state

    def _host_terms(self, atoms: Atoms, host: np.ndarray) -> dict:
        key = (atoms.positions[host].tobytes() + atoms.numbers[host].tobytes()
               + np.array(atoms.cell).tobytes() + atoms.pbc.tobytes())
        if key == self._host_key:
            return self._host
        cell = np.array(atoms.cell)
        carbon = host[atoms.numbers[host] == 6]
        other = host[atoms.numbers[host] != 6]
        shifts = image_shifts(cell, atoms.pbc, max(self.params.na_c.cutoff_A, PAIR_SWITCH_A[1]))
        cpos = wrap_positions(atoms.positions[carbon], cell, atoms.pbc)
        e_walls, f_walls = 0.0, np.zeros((len(host), 3))
        if self.wall_lj is not None and WALL_ARRAY in atoms.arrays:
            e_walls, f_walls = self._emt._wall_terms(atoms, host, cell)
        other_cache = None
        if len(other):
            sub = atoms[np.concatenate([other])]
            for s in set(sub.get_chemical_symbols()):
                if s not in NA_HOST_MORSE:
                    raise NotImplementedError(f"the surrogate has no Na-{s} term")
            opos = wrap_positions(atoms.positions[other], cell, atoms.pbc)
            other_cache = {"images": (opos[None] + shifts[:, None]).reshape(-1, 3),
                           "elements": np.tile(atoms.numbers[other], len(shifts)),
                           "symbols": {int(z): Atoms(numbers=[z]).get_chemical_symbols()[0]
                                       for z in np.unique(atoms.numbers[other])},
                           "n_host": len(other)}
        self._host = {
            "carbon": carbon, "other": other,
            "c_images": (cpos[None] + shifts[:, None]).reshape(-1, 3),
            "e_walls": e_walls, "f_walls": f_walls, "other_cache": other_cache,
            "na_shifts": image_shifts(cell, atoms.pbc, self.params.na_na.cutoff_A),
        }
        self._host_key = key
        return self._host

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        na = np.where(atoms.numbers == 11)[0]
        host = np.where(atoms.numbers != 11)[0]
        if len(atoms) != len(na) + len(host):  # pragma: no cover
            raise RuntimeError("internal: atom partition")
        cell = np.array(atoms.cell)
        forces = np.zeros((len(atoms), 3))
        energy = 0.0
        cache = self._host_terms(atoms, host) if len(host) else None
        if cache is not None:
            energy += cache["e_walls"]
            forces[host] += cache["f_walls"]
        if len(na):
            npos = wrap_positions(atoms.positions[na], cell, atoms.pbc)
            carbon = cache["carbon"] if cache else np.zeros(0, int)
            fp = fingerprints(self.params, npos, cell, atoms.pbc, cache["c_images"] if cache else None,
                              len(carbon), cache["na_shifts"] if cache else None)
            e_i, dEdG = network_energy(self.params, fp.G)
            energy += float(e_i.sum()) + fp.e_core
            kn = len(self.params.na_na.mu_A)
            # Na-Na: dE/dr of pair (i -> j) from atom i's fingerprint, plus the core term
            dEdr = np.einsum("pk,pk->p", dEdG[fp.nn_i, :kn], fp.nn_dG) + fp.nn_core_dr
            f = dEdr[:, None] * fp.nn_u  # force on i is +dE/dr u, on j is -dE/dr u
            n = len(na)
            fna = scatter_rows(fp.nn_i, f, n) - scatter_rows(fp.nn_j, f, n)
            if len(fp.nc_i):
                dEdr = np.einsum("pk,pk->p", dEdG[fp.nc_i, kn:self.params.n_radial], fp.nc_dG) + fp.nc_core_dr
                f = dEdr[:, None] * fp.nc_u
                fna += scatter_rows(fp.nc_i, f, n)
                forces[carbon] -= scatter_rows(fp.nc_k, f, len(carbon))
            if fp.ang_na is not None:
                f = fp.ang_na.pair_gradients(dEdG)
                fna += scatter_rows(fp.ang_na.centre, f, n)
                fna -= scatter_rows(fp.ang_na.neighbour, f, n)
            if fp.ang_c is not None:
                f = fp.ang_c.pair_gradients(dEdG)
                fna += scatter_rows(fp.ang_c.centre, f, n)
                forces[carbon] -= scatter_rows(fp.ang_c.neighbour, f, len(carbon))
            forces[na] += fna
            if cache and cache["other_cache"] is not None:
                e_o, f_o, f_host = self._emt._na_host(npos, cache["other_cache"])
                energy += e_o
                forces[na] += f_o
                forces[cache["other"]] += f_host
        self.results["energy"] = self.results["free_energy"] = float(energy)
        self.results["forces"] = forces
