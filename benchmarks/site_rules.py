"""Cost of the site rules (candidate sites and the nucleation move) against ASE's whole distance matrices.

    python benchmarks/site_rules.py [--repeat 3] [--fill N]

The site rules measure minimum-image distances from hundreds of proposed points to every wall
atom. ``nafill.structures.geometry`` does it with ``get_distances`` (ASE's, bit for bit, the
images compared by one inner product) and ``mic_pairs_within`` (only pairs that can be within the
cutoff get the image search); before, every call built ASE's whole point x atom matrix with all 28
periodic images. This script times ``candidate_sites`` and ``coalesce`` both ways on structures of
the 1.82 nm cavity (64 C with 10-30 Na) and the 0.5+1.82 nm connected pore (312 host atoms with
10-40 Na), the Na placed one at a time at the first candidate site (no energies), the host's cached hexagon
centres cleared before every call of the ASE-based run, and checks that both give the same sites
and the same moved structure. ``--fill N`` also fills the connected pore to N Na with the
``surrogate`` (in process, narrow part first, the default policy: the moves at every step) both
ways and prints both wall times and whether every step's energy is the same.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager, nullcontext

import numpy as np
from ase.geometry import get_distances as ase_get_distances

from _common import isolate, table

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--repeat", type=int, default=3, help="timed calls per structure and way (best kept)")
ap.add_argument("--fill", type=int, default=0, metavar="N", help="also fill the connected pore to N Na both ways")
args = ap.parse_args()
isolate()
from nafill.structures import geometry, moves, sites  # noqa: E402
from nafill.structures.connected import connected_pore  # noqa: E402
from nafill.structures.geometry import guest_indices  # noqa: E402
from nafill.structures.moves import na_clusters  # noqa: E402
from nafill.structures.pores import cavity  # noqa: E402


def _mic_pairs_within_whole_matrix(p1, p2, cell, pbc, cutoff_A):
    _, d = ase_get_distances(p1, p2, cell=cell, pbc=pbc)
    i, j = np.nonzero(d < cutoff_A)
    return i, j, d[i, j]


@contextmanager
def ase_whole_matrices():
    """The site rules as they were: ASE's get_distances on every pair, no host cache."""
    saved = (geometry.get_distances, geometry.mic_pairs_within, sites.mic_pairs_within, moves.get_distances,
             sites._wall_sites)
    uncached = sites._wall_sites

    def no_cache(atoms, guest="Na"):
        sites._WALL_SITES.clear()
        return uncached(atoms, guest)

    geometry.get_distances = moves.get_distances = ase_get_distances
    geometry.mic_pairs_within = sites.mic_pairs_within = _mic_pairs_within_whole_matrix
    sites._wall_sites = no_cache
    try:
        yield
    finally:
        (geometry.get_distances, geometry.mic_pairs_within, sites.mic_pairs_within, moves.get_distances,
         sites._wall_sites) = saved


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def grown(host, n_na):
    """``host`` with ``n_na`` Na, each at the first candidate site of the one before."""
    a = host
    for _ in range(n_na):
        a = sites.add_guest(a, sites.candidate_sites(a).positions[0])
    return a


rows = []
for label, host, counts in (("cavity 1.82 nm", cavity(1.82), (10, 20, 30)),
                            ("connected 0.5+1.82 nm", connected_pore((0.5, 1.82)), (10, 20, 40))):
    structure = host
    done = 0
    for n in counts:
        structure = grown(structure, n - done)
        done = n
        na = guest_indices(structure)
        labels = na_clusters(structure)
        sizes = np.bincount(labels)
        seed = int(na[np.argmax(sizes[labels])])
        n_move = int(min(4, (sizes[labels] == 1).sum() - (sizes[labels[na == seed]][0] == 1)))

        def site_call(a=structure):
            return sites.candidate_sites(a)

        def move_call(a=structure, s=seed, k=n_move):
            return moves.coalesce(a, s, k) if k >= 1 else None

        t_new, s_new = best_of(site_call, args.repeat)
        m_new = best_of(move_call, args.repeat)
        with ase_whole_matrices():
            t_old, s_old = best_of(site_call, args.repeat)
            m_old = best_of(move_call, args.repeat)
        same_sites = np.array_equal(s_new.positions, s_old.positions) and s_new.kinds == s_old.kinds
        same_move = (m_new[1] is None and m_old[1] is None) or (
            m_new[1] is not None and m_old[1] is not None and np.array_equal(m_new[1].positions, m_old[1].positions))
        rows.append({"pore": label, "atoms": len(structure), "Na": n, "sites": len(s_new),
                     "sites ms": f"{t_new * 1e3:.0f}", "ASE-based ms": f"{t_old * 1e3:.0f}",
                     "x": f"{t_old / t_new:.1f}", "move (Na moved) ms": f"{m_new[0] * 1e3:.0f} ({n_move})",
                     "ASE-based move ms": f"{m_old[0] * 1e3:.0f}", "same": "yes" if same_sites and same_move else "NO"})
print(table(rows, list(rows[0])))

if args.fill:
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy

    backend = get_backend("surrogate")
    policy = FillingPolicy(max_na=args.fill, fill_order="narrow-first")
    walls, energies = {}, {}
    for way, patched in (("shipped", nullcontext()), ("ASE-based", ase_whole_matrices())):
        t0 = time.perf_counter()
        with patched:
            path = fill(connected_pore((0.5, 1.82)), backend, policy)
        walls[way] = time.perf_counter() - t0
        energies[way] = [s["energy_eV"] for s in path.steps]
    print(f"connected 0.5+1.82 nm, surrogate, to {args.fill} Na in process: {walls['shipped']:.1f} s, ASE-based "
          f"{walls['ASE-based']:.1f} s; every step's energy the same: {energies['shipped'] == energies['ASE-based']}")
