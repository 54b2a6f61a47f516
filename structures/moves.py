"""Collective search moves on a pore's Na: clusters, their signature, and coalescence.

A greedy one-Na-at-a-time fill adds the next Na at a site and relaxes; it does not gather Na
that already sit apart on the walls into one cluster, which is what nucleation is. When the
cheap level of the fidelity ladder prefers isolated adatoms where the expensive backend prefers
a cluster (SevenNet-0 against the surrogate in the 1.82 nm cavity at 6 Na: the 4-atom cluster
1.55 eV against six adatoms 1.72 eV with SevenNet-0, the order reversed by 0.16 eV on the
surrogate), the path stays on adatoms and every later step is 0.2-0.6 eV too high.
:func:`coalesce` builds the missing candidates: it moves the isolated Na nearest to a seed onto
neighbour sites of the seed's cluster, one at a time. :func:`cluster_signature` names a
structure's motif (its cluster sizes and close pairs of isolated Na) so that a screen can send
distinct motifs, not only the lowest cheap energies, to the expensive backend.

Pure functions on ASE ``Atoms``; no I/O and no energies.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from nafill.constants import NA_NN_DISTANCE_A
from nafill.structures.geometry import get_distances, guest_indices
from nafill.structures.sites import add_guest, candidate_sites

CLUSTER_CUTOFF_A = 3.9
"""Two Na closer than this (A) belong to one cluster: between bcc Na's first (3.66 A) and
second (4.23 A) neighbour shells."""


def _na_distances(atoms: Atoms, na: np.ndarray) -> np.ndarray:
    """Minimum-image Na-Na distance matrix, A."""
    _, d = get_distances(atoms.positions[na], cell=atoms.cell, pbc=atoms.pbc)
    return d


def _linkage_labels(d: np.ndarray, cutoff_A: float) -> np.ndarray:
    """Single-linkage cluster labels from a distance matrix (0, 1, ... in order of first appearance)."""
    labels = -np.ones(len(d), int)
    near = d < cutoff_A
    n = 0
    for start in range(len(d)):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = n
        while stack:
            k = stack.pop()
            for j in np.nonzero(near[k] & (labels < 0))[0]:
                labels[j] = n
                stack.append(int(j))
        n += 1
    return labels


def na_clusters(atoms: Atoms, cutoff_A: float = CLUSTER_CUTOFF_A) -> np.ndarray:
    """Cluster label of every Na (aligned with :func:`guest_indices`), by single linkage at
    ``cutoff_A`` (A) under periodic boundaries. Labels are 0, 1, ... in order of first appearance."""
    na = guest_indices(atoms)
    return _linkage_labels(_na_distances(atoms, na), cutoff_A) if len(na) else -np.ones(0, int)


CLOSE_ADATOMS_A = 4.7
"""Two isolated Na closer than this (A) are a close pair: between the second (4.26 A) and third
(4.92 A) hollow-hollow distances of graphene."""


def cluster_signature(atoms: Atoms, cutoff_A: float = CLUSTER_CUTOFF_A,
                      close_A: float = CLOSE_ADATOMS_A) -> tuple[tuple[int, ...], int]:
    """The motif of a structure's Na: its cluster sizes, largest first, and how many pairs of
    isolated Na lie closer than ``close_A`` (``((4, 1, 1), 0)``: a 4-atom cluster and two isolated
    Na far apart; ``((), 0)`` with no Na). Isolated Na give up charge to the walls and repel: how
    closely they sit is the other choice, besides clustering, that decides the early steps."""
    na = guest_indices(atoms)
    if len(na) == 0:
        return (), 0
    d = _na_distances(atoms, na)
    labels = _linkage_labels(d, cutoff_A)
    sizes = np.bincount(labels)
    lone = np.nonzero(sizes[labels] == 1)[0]
    close = int((d[np.ix_(lone, lone)][np.triu_indices(len(lone), 1)] < close_A).sum())
    return tuple(sorted((int(c) for c in sizes), reverse=True)), close


def coalesce(
    atoms: Atoms,
    seed: int,
    n_move: int,
    min_host_distance_A: float = 2.0,
    min_na_distance_A: float = 2.8,
    cutoff_A: float = CLUSTER_CUTOFF_A,
    n_directions: int = 16,
    rng_seed: int = 0,
) -> Atoms | None:
    """Gather ``n_move`` isolated Na onto the cluster of Na atom ``seed``.

    The isolated Na (clusters of one, other than the seed's) nearest to the seed's cluster
    (minimum image, either wall) are taken out and put back one at a time on the neighbour site
    (:func:`nafill.structures.sites.candidate_sites`, a shell of radius the bcc Na neighbour
    distance around each Na) of the growing cluster that lies nearest to its centroid, so that
    the cluster stays compact.

    Args:
        atoms: the pore with its Na (``seed`` an index into ``atoms``, a Na).
        n_move: isolated Na to move (>= 1).
        min_host_distance_A, min_na_distance_A: the site rules of the placed Na, A.
        cutoff_A: cluster linkage distance, A (:data:`CLUSTER_CUTOFF_A`).
        n_directions, rng_seed: the neighbour shell's directions and their random rotation.

    Returns:
        The new structure (the moved Na at the end, in the order moved), or None when fewer than
        ``n_move`` isolated Na exist or no neighbour site is left.
    """
    if n_move < 1:
        raise ValueError(f"n_move = {n_move} must be >= 1")
    na = guest_indices(atoms)
    where = np.nonzero(na == seed)[0]
    if len(where) == 0:
        raise ValueError(f"atom {seed} is not a Na")
    labels = na_clusters(atoms, cutoff_A)
    sizes = np.bincount(labels)
    k_seed = int(where[0])
    members = na[labels == labels[k_seed]]
    isolated = [int(na[k]) for k in range(len(na)) if sizes[labels[k]] == 1 and labels[k] != labels[k_seed]]
    if len(isolated) < n_move:
        return None
    d = get_distances(atoms.positions[isolated], atoms.positions[members], cell=atoms.cell, pbc=atoms.pbc)[1]
    movers = [isolated[k] for k in np.argsort(d.min(axis=1), kind="stable")[:n_move]]
    out = atoms.copy()
    keep = np.ones(len(out), bool)
    keep[movers] = False
    out = out[keep]
    # indices of the seed cluster after the removal
    shift = np.cumsum(~keep)
    cluster = [int(i - shift[i]) for i in members]
    for m in range(n_move):
        sites = candidate_sites(out, min_host_distance_A=min_host_distance_A, min_na_distance_A=min_na_distance_A,
                                na_na_distance_A=NA_NN_DISTANCE_A, n_directions=n_directions,
                                use_symmetry=False, seed=rng_seed + m)
        if len(sites) == 0:
            return None
        pts = sites.positions
        to_cluster = get_distances(pts, out.positions[cluster], cell=out.cell, pbc=out.pbc)[1]
        shell = to_cluster.min(axis=1) < NA_NN_DISTANCE_A + 0.3
        if not shell.any():
            return None
        # distance to the cluster's centroid: the mean of minimum-image vectors from its first atom
        ref = out.positions[cluster[0]]
        vec = get_distances(ref, out.positions[cluster], cell=out.cell, pbc=out.pbc)[0][0]
        centroid = ref + vec.mean(axis=0)
        dc = get_distances(pts, centroid, cell=out.cell, pbc=out.pbc)[1][:, 0]
        dc[~shell] = np.inf
        out = add_guest(out, pts[int(np.argmin(dc))])
        cluster.append(len(out) - 1)
    return out
