"""Builders: exact geometry, registries, counts, passivation, defects, capacities."""

import numpy as np
import pytest
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list

from nafill.constants import STANDARD_CAVITY_SPACINGS_NM, WALL_ARRAY
from nafill.errors import NafillInputError
from nafill.structures.capacity import WALL_EXCLUSION_A, pore_capacity, theoretical_capacity
from nafill.structures.connected import connected_pore
from nafill.structures.defects import add_defect
from nafill.structures.geometry import infer_walls, wall_spacings_A
from nafill.structures.graphene import graphene_bilayer
from nafill.structures.na_layers import na_layers_model
from nafill.structures.pores import bcc_sodium, cavity, orifice, standard_cavity_spacing_nm


def _cc_min(atoms, idx):
    _, d = get_distances(atoms.positions[idx], cell=atoms.cell, pbc=atoms.pbc)
    d[np.diag_indices_from(d)] = np.inf
    return d.min()


@pytest.mark.parametrize("spacing", [0.375, 0.82, 1.82, 2.18])
def test_bilayer_geometry_exact(spacing):
    a = graphene_bilayer(spacing, (4, 4), "AB", vacuum_A=15.0)
    assert len(a) == 64
    walls = a.arrays[WALL_ARRAY]
    assert (walls == 1).sum() == 32 and (walls == 2).sum() == 32
    z_low = a.positions[walls == 1, 2]
    z_up = a.positions[walls == 2, 2]
    assert np.ptp(z_low) < 1e-12 and np.ptp(z_up) < 1e-12
    assert z_up[0] - z_low[0] == pytest.approx(spacing * 10, abs=1e-6)
    # vacuum between the outer faces through the periodic image
    assert a.cell[2, 2] - (z_up[0] - z_low[0]) == pytest.approx(15.0, abs=1e-6)
    assert z_low[0] == pytest.approx(7.5, abs=1e-6)
    # 4x4 cell: a = 4 sqrt(3) 1.42 = 9.8380 A, 60 degrees
    assert np.linalg.norm(a.cell[0]) == pytest.approx(4 * np.sqrt(3) * 1.42, abs=1e-6)
    assert np.linalg.norm(a.cell[1]) == pytest.approx(4 * np.sqrt(3) * 1.42, abs=1e-6)
    assert a.cell.angles()[2] == pytest.approx(60.0, abs=1e-9)
    assert _cc_min(a, np.where(walls == 1)[0]) == pytest.approx(1.42, abs=1e-6)
    # every C has exactly three neighbours at 1.42 A in its sheet
    i, d = neighbor_list("id", a, 1.5)
    assert np.all(np.bincount(i, minlength=64) == 3)
    assert np.allclose(d, 1.42, atol=1e-6)
    assert a.constraints and len(a.constraints[0].get_indices()) == 64


def test_ab_and_aa_registry():
    for stacking, n_on_top in (("AB", 16), ("AA", 32)):
        a = graphene_bilayer(0.5, stacking=stacking)
        w = a.arrays[WALL_ARRAY]
        lo, up = a.positions[w == 1], a.positions[w == 2]
        lo_flat, up_flat = lo.copy(), up.copy()
        lo_flat[:, 2] = up_flat[:, 2] = 0
        _, d = get_distances(up_flat, lo_flat, cell=a.cell, pbc=a.pbc)
        on_top = (d.min(axis=1) < 1e-6).sum()
        assert on_top == n_on_top
        if stacking == "AB":
            # the other half sits above hexagon centres: 1.42 A from the nearest lower C in-plane
            assert np.allclose(np.sort(d.min(axis=1))[16:], 1.42, atol=1e-6)


def test_supercell_changes_counts():
    a = graphene_bilayer(1.0, (6, 6))
    assert len(a) == 144
    b = graphene_bilayer(1.0, (3, 5))
    assert len(b) == 60


def test_standard_cavities_and_orifice():
    for layers, s in STANDARD_CAVITY_SPACINGS_NM.items():
        assert standard_cavity_spacing_nm(f"{layers}L") == s
        c = cavity(f"{layers}L")
        assert wall_spacings_A(c)[0] == pytest.approx(s * 10, abs=1e-6)
        assert c.info["pore_kind"] == "cavity"
    assert cavity("c182").info["spacing_nm"] == 1.82
    o = orifice(0.45)
    assert o.info["pore_kind"] == "orifice"
    assert wall_spacings_A(o)[0] == pytest.approx(4.5, abs=1e-6)


@pytest.mark.parametrize("bad", [0.29, 0.0, -1.0, 5.01, 100.0, float("nan")])
def test_bad_spacing_refused_with_range(bad):
    with pytest.raises(NafillInputError, match=r"spacing_nm = .* allowed range \[0.3, 5\] nm|not a finite"):
        cavity(bad)
    with pytest.raises(NafillInputError):
        orifice(bad)


def test_bad_inputs_named():
    with pytest.raises(NafillInputError, match="stacking"):
        graphene_bilayer(1.0, stacking="ABC")
    with pytest.raises(NafillInputError, match="standard cavity"):
        cavity("9L")
    with pytest.raises(NafillInputError, match=r"layers = 8 .*\[1, 7\]"):
        na_layers_model(8)
    with pytest.raises(NafillInputError, match="layers = 0"):
        na_layers_model(0)
    with pytest.raises(NafillInputError, match="increase"):
        connected_pore([1.2, 0.5])
    with pytest.raises(NafillInputError, match="2 to 4"):
        connected_pore([1.2])
    with pytest.raises(NafillInputError, match="defect kind"):
        add_defect(cavity(1.0), "pentagon")


@pytest.mark.parametrize("k", range(1, 8))
def test_na_layers(k):
    a = na_layers_model(k)
    na = np.array(a.get_chemical_symbols()) == "Na"
    c = ~na
    assert na.sum() == 7 * k
    assert c.sum() == 64
    z = np.round(a.positions[na, 2], 6)
    levels, counts = np.unique(z, return_counts=True)
    assert len(levels) == k and np.all(counts == 7)
    _, d_nac = get_distances(a.positions[na], a.positions[c], cell=a.cell, pbc=a.pbc)
    assert d_nac.min() >= 2.0
    if k > 1:
        _, d_nana = get_distances(a.positions[na], cell=a.cell, pbc=a.pbc)
        d_nana[np.diag_indices_from(d_nana)] = np.inf
        # metallic density, no overlap: bcc nearest neighbour is 3.66 A
        assert 3.0 < d_nana.min() < 3.8
    # volume per Na equals the bcc atomic volume a^3/2 (metallic density)
    area = np.linalg.norm(np.cross(a.cell[0], a.cell[1]))
    assert area / 7 * a.info["na_layer_spacing_A"] == pytest.approx(4.23**3 / 2, rel=1e-9)
    assert not a.constraints  # walls and Na both free for the spacing relaxation


def test_na_layers_single_layer_spacing():
    a = na_layers_model(1)
    assert wall_spacings_A(a)[0] == pytest.approx(4.8, abs=1e-6)


@pytest.mark.parametrize("spacings", [(0.5, 1.2), (1.2, 1.82), (0.5, 1.2, 1.82)])
def test_connected_pores(spacings):
    a = connected_pore(spacings)
    sym = np.array(a.get_chemical_symbols())
    sec = a.arrays["section"]
    low = a.positions[(sec == -1) & (sym == "C"), 2].mean()
    for k, s in enumerate(spacings):
        z = a.positions[(sec == k) & (sym == "C"), 2]
        assert len(z) > 0
        assert (z.mean() - low) / 10 == pytest.approx(s, abs=0.001)  # within 0.01 nm, and better
    measured = wall_spacings_A(a) / 10
    assert np.allclose(measured, spacings, atol=0.01)
    # passivation complete: every C has 3 neighbours (C or H) within 1.7 A
    i = neighbor_list("i", a, 1.7)
    counts = np.bincount(i, minlength=len(a))
    assert counts[sym == "C"].min() == 3
    assert (sym == "H").sum() > 0
    # each H bonded to exactly one C at 1.09 A
    ih, jh, dh = neighbor_list("ijd", a, 1.2)
    for h in np.where(sym == "H")[0]:
        partners = jh[ih == h]
        assert len(partners) == 1 and sym[partners[0]] == "C"
    # no two atoms closer than 0.9 A
    assert len(neighbor_list("i", a, 0.9)) == 0


def test_infer_walls_matches_builder():
    a = connected_pore((0.5, 1.2))
    assert np.array_equal(infer_walls(a), a.arrays[WALL_ARRAY])
    b = add_defect(cavity(1.19), "hydroxyl", wall="upper")
    assert np.array_equal(infer_walls(b), b.arrays[WALL_ARRAY])


@pytest.mark.parametrize(
    "kind,n_c,extra", [("vacancy", 63, {}), ("divacancy", 62, {}), ("stone-wales", 64, {}),
                       ("epoxide", 64, {"O": 1}), ("hydroxyl", 64, {"O": 1, "H": 1})]
)
@pytest.mark.parametrize("wall", ["lower", "upper"])
def test_defects(kind, n_c, extra, wall):
    host = cavity(1.19)
    a = add_defect(host, kind, wall=wall, position_A=(5.0, 4.0))
    sym = np.array(a.get_chemical_symbols())
    assert (sym == "C").sum() == n_c
    for el, n in extra.items():
        assert (sym == el).sum() == n
    w = 1 if wall == "lower" else 2
    other = 3 - w
    # the untouched wall keeps its 32 C; every added atom carries the defected wall's tag
    assert ((a.arrays[WALL_ARRAY] == other) & (sym == "C")).sum() == 32
    assert np.all(a.arrays[WALL_ARRAY][sym != "C"] == w)
    assert np.all(a.get_tags()[sym != "C"] == w)
    assert len(neighbor_list("i", a, 0.9)) == 0
    if kind in ("epoxide", "hydroxyl"):
        # groups point into the pore
        z_wall = host.positions[host.arrays[WALL_ARRAY] == w, 2].mean()
        z_o = a.positions[sym == "O", 2][0]
        assert (z_o - z_wall) * (1 if w == 1 else -1) > 1.0
    if kind == "stone-wales":
        # two bonds rotated: 4 pentagon/heptagon pairs -> still 3 neighbours each
        i = neighbor_list("i", a, 1.7)
        assert np.bincount(i, minlength=len(a)).min() == 3


def test_bcc_sodium():
    a = bcc_sodium()
    assert len(a) == 1 and a.get_volume() == pytest.approx(4.23**3 / 2)
    c = bcc_sodium(4.20, cubic=True)
    assert len(c) == 2 and c.get_volume() == pytest.approx(4.20**3)
    with pytest.raises(NafillInputError, match="lattice_A"):
        bcc_sodium(10.0)


def test_theoretical_capacity_convention():
    area = np.linalg.norm(np.cross(*cavity(1.0).cell[:2]))
    assert area == pytest.approx(83.82, abs=0.05)
    assert WALL_EXCLUSION_A == pytest.approx(0.9045, abs=1e-3)
    # 1.82 nm 4x4: 83.82 * (18.2 - 1.809) / 37.84 = 36.3 -> 36
    assert theoretical_capacity(1.82, area) == 36
    assert pore_capacity(cavity(1.82)) == 36
    assert pore_capacity(cavity(0.82)) == 14  # = the 2-layer model's 14 Na
    assert theoretical_capacity(0.18, area) == 0  # narrower than the two excluded layers
    assert theoretical_capacity(0.45, area) == 5  # an orifice holds one sparse layer
    caps = [pore_capacity(cavity(s)) for s in STANDARD_CAVITY_SPACINGS_NM.values()]
    assert caps == sorted(caps)
    conn = connected_pore((0.5, 1.2))
    assert pore_capacity(conn) > 0
