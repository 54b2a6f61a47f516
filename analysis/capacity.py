"""Capacities: practical and theoretical Na counts, and gravimetric capacity in mAh/g.

Gravimetric capacity ``Q = x v F / (3.6 M_host)`` (mAh/g) with x the stored Na, v the average
Bader valence of the stored Na (electrons given up per Na), F the Faraday constant and M_host the
molar mass of the host atoms that count. For a pure-carbon host ``Q = 2231.4 x v / n_C``.

Mass conventions (``mass_convention``):

* ``"all-carbon"`` (default): every carbon atom of the model (both walls);
* ``"one-wall"``: the carbon of one wall (half of a symmetric bilayer): each wall of a stacked
  hard carbon is shared by the two pores beside it;
* ``"host"``: every host atom (C, and H/O of edges and defects) with its own molar mass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nafill.analysis.profile import SHARP_RISE_V, strict_practical_capacity, study_practical_capacity
from nafill.constants import FARADAY_C_MOL, MOLAR_MASS_C_G_MOL, MOLAR_MASS_H_G_MOL, MOLAR_MASS_O_G_MOL
from nafill.errors import NafillInputError, check_range

MASS_CONVENTIONS = ("all-carbon", "one-wall", "host")

PUBLISHED_VALENCE = 0.90
"""Valence (e/Na) implied by the published 501 mAh/g for 16 Na over 64 C: 501 * 64 / (2231.4 * 16)
= 0.898. The study's mAh/g assume it when the backend gives no Bader charges (said so in the report)."""
_MOLAR = {"C": MOLAR_MASS_C_G_MOL, "H": MOLAR_MASS_H_G_MOL, "O": MOLAR_MASS_O_G_MOL}


def gravimetric_capacity_mAh_g(n_na: float, host_mass_g_mol: float, valence: float = 1.0) -> float:
    """Q = x v F / (3.6 M_host) in mAh/g (M_host in g/mol)."""
    check_range("n_na", n_na, 0.0, None)
    check_range("valence", valence, 0.0, 1.5)
    check_range("host_mass_g_mol", host_mass_g_mol, 0.0, None, "g/mol", lo_inclusive=False)
    return float(n_na * valence * FARADAY_C_MOL / (3.6 * host_mass_g_mol))


def host_mass_g_mol(symbols, walls=None, mass_convention: str = "all-carbon") -> float:
    """Molar mass (g/mol) of the host atoms that count under ``mass_convention``."""
    if mass_convention not in MASS_CONVENTIONS:
        raise NafillInputError(
            f"mass_convention = {mass_convention!r} must be one of {', '.join(MASS_CONVENTIONS)}"
        )
    symbols = np.asarray(symbols)
    n_c = int((symbols == "C").sum())
    if mass_convention == "all-carbon":
        return n_c * MOLAR_MASS_C_G_MOL
    if mass_convention == "one-wall":
        if walls is None:
            return 0.5 * n_c * MOLAR_MASS_C_G_MOL
        walls = np.asarray(walls)
        return int(((symbols == "C") & (walls == 1)).sum()) * MOLAR_MASS_C_G_MOL
    return float(sum(_MOLAR[s] for s in symbols if s != "Na"))


@dataclass
class CapacityReport:
    """Capacities of one path, with the assumptions stated."""

    practical_na: int
    theoretical_na: int | None
    valence: float
    valence_source: str
    """``"bader"`` (average Bader valence of the Na along the path) or ``"assumed"``."""
    mass_convention: str
    host_mass_g_mol: float
    practical_mAh_g: float
    theoretical_mAh_g: float | None
    practical_at_least: bool = False
    """The strict value is a lower bound (the run stopped at its cap)."""
    practical_study_na: int = 0
    """The study's reading (:func:`nafill.analysis.profile.study_practical_capacity`)."""
    practical_study_at_least: bool = False
    practical_study_mAh_g: float = 0.0
    strict_rule: str = ""
    study_rule: str = ""
    study_reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def assumption(self) -> str:
        src = "average Bader valence" if self.valence_source == "bader" else "assumed valence"
        return f"{src} {self.valence:.2f} e/Na, mass of {self.mass_convention} ({self.host_mass_g_mol:.1f} g/mol)"


def capacity_report(path, mass_convention: str = "all-carbon", valence: float | None = None,
                    default_valence: float = 1.0, sharp_rise_V: float = SHARP_RISE_V) -> CapacityReport:
    """Practical (strict and study readings) and theoretical capacity of a path in Na and mAh/g.

    The valence is, in order: ``valence`` if given; the average Bader valence of the steps up to
    the (study) practical capacity when the path has one (VASP); otherwise ``default_valence``
    (1.0; the study uses :data:`PUBLISHED_VALENCE`), flagged as assumed.
    """
    steps = path.steps
    h = [s["formation_enthalpy_eV"] for s in steps]
    n = [s["n_na"] for s in steps]
    cap = (path.policy or {}).get("max_na")
    strict = strict_practical_capacity(h, n, cap) if steps else strict_practical_capacity([], [], cap)
    study = study_practical_capacity(h, n, sharp_rise_V, cap=cap, finished_reason=path.state.get("stop_reason"))
    x_p = strict.na
    if valence is not None:
        v, source = float(valence), "assumed"
    else:
        bader = [s.get("na_bader_valence") for s in steps if s["n_na"] <= max(study.na, x_p, 1)]
        bader = [b for b in bader if b is not None]
        v, source = (float(np.mean(bader)), "bader") if bader else (float(default_valence), "assumed")
    host = path.host
    from ase.data import chemical_symbols

    symbols = [chemical_symbols[z] for z in host["numbers"]]
    mass = host_mass_g_mol(symbols, host.get("wall"), mass_convention)
    theo = path.reference.get("theoretical_capacity_na")
    return CapacityReport(
        practical_na=int(x_p),
        theoretical_na=theo,
        valence=v,
        valence_source=source,
        mass_convention=mass_convention,
        host_mass_g_mol=mass,
        practical_mAh_g=gravimetric_capacity_mAh_g(x_p, mass, v),
        theoretical_mAh_g=None if theo is None else gravimetric_capacity_mAh_g(theo, mass, v),
        practical_at_least=strict.at_least,
        practical_study_na=study.na,
        practical_study_at_least=study.at_least,
        practical_study_mAh_g=gravimetric_capacity_mAh_g(study.na, mass, v),
        strict_rule=strict.rule,
        study_rule=study.rule,
        study_reason=study.reason,
    )
