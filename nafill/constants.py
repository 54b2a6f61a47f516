"""Physical constants, geometry conventions and tags: one fact in one place.

Every other module takes these numbers from here.  Lengths are in angstrom (A) inside
structures and in nanometre (nm) for pore sizes at the user interface.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- units
NM_TO_A = 10.0
FARADAY_C_MOL = 96485.33212
"""Faraday constant, C/mol."""
MOLAR_MASS_C_G_MOL = 12.011
MOLAR_MASS_H_G_MOL = 1.008
MOLAR_MASS_O_G_MOL = 15.999

# --------------------------------------------------------------------------- graphene
CC_BOND_A = 1.42
"""Default graphene C-C bond length, A."""
CH_BOND_A = 1.09
"""C-H bond length used to passivate sheet edges, A."""
DEFAULT_VACUUM_A = 15.0
"""Default vacuum along z between the outer faces of the two walls, A."""

# --------------------------------------------------------------------------- sodium
NA_BCC_A_EXPT = 4.23
"""Low-temperature experimental bcc Na lattice constant, A (builders' default)."""
NA_BCC_A_PBE = 4.20
NA_COHESIVE_EV_EXPT = 1.11
NA_NN_DISTANCE_A = NA_BCC_A_EXPT * 3**0.5 / 2
"""Nearest-neighbour distance of bcc Na, A (3.66 A)."""
NA_WALL_HEIGHT_A = 2.40
"""Typical height of an adsorbed Na above a graphene plane (hollow site), A."""
MIN_NA_C_DISTANCE_A = 2.0
"""No Na closer than this to a carbon atom, in any builder or kept structure, A."""

# --------------------------------------------------------------------------- pore sizes
STANDARD_CAVITY_SPACINGS_NM: dict[int, float] = {
    2: 0.82,
    3: 1.05,
    4: 1.19,
    5: 1.48,
    6: 1.82,
    7: 2.18,
}
"""Relaxed wall-to-wall spacings (nm) with 2..7 bcc Na layers between the walls (PBE-D3)."""
SPACING_MIN_NM = 0.30
SPACING_MAX_NM = 5.0
ORIFICE_RANGE_NM = (0.37, 0.70)
CAVITY_RANGE_NM = (0.80, 2.20)

# --------------------------------------------------------------------------- tags
TAG_GUEST = 0
"""Tag of Na (and any other guest) atoms."""
TAG_LOWER_WALL = 1
"""Tag of atoms belonging to the lower wall (z smaller)."""
TAG_UPPER_WALL = 2
"""Tag of atoms belonging to the upper wall(s) (z larger)."""
WALL_ARRAY = "wall"
"""Name of the per-atom array holding the wall index (0 = not a wall atom)."""
SECTION_ARRAY = "section"
"""Name of the per-atom array holding the pore section index of a connected pore (-1 = shared)."""

EMT_CAVEAT = ("emt is a workflow-test surrogate, not physics: it overbinds small Na clusters, so its "
              "barriers, voltages and capacities mean nothing; use surrogate, mlip or vasp")
"""The one-line caveat printed with every result of the ``emt`` backend (table, headline, analyze, plots)."""
TEST_ONLY_BACKENDS = {"emt": EMT_CAVEAT}
"""Backends whose numbers are not physics, with the caveat each result carries."""
