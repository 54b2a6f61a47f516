"""Fill order of connected (stage-wise) pores: which section the next Na may go to.

``FillingPolicy.fill_order``:

* ``"energy"`` (default): every candidate site of the pore competes; the lowest energy wins.
* ``"narrow-first"``: the mechanism of the published study. Na enters a stage-wise pore through
  its narrowest part, so the next Na's candidates are restricted to the *open* section: the
  narrowest section that is not yet full. A section is full (closed) when

  1. the Na in it (counted on the current structure) reach its theoretical capacity
     (:func:`nafill.structures.capacity.section_capacities`), or
  2. the Na added to it so far show the study's practical limit: taking the steps whose new Na was
     put in that section, in order, and summing their H increments into a sub-profile, the study
     reading of the practical capacity (:func:`nafill.analysis.profile.study_practical_capacity`
     with ``section_sharp_rise_V``) is decided: H rose sharply after nucleation (the Na of that
     sharp rise stays where it is; the next one goes to the next section), or
  3. no candidate site is left in it.

  Once every section is closed, the whole pore competes again. On a host without sections
  (cavities, orifices) the order has no effect.

The rule is evaluated from the path itself (the kept structure and the ``site_A`` of every step),
so a resumed or FireWorks-distributed fill makes the same choices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from nafill.analysis.profile import study_practical_capacity
from nafill.structures.capacity import section_capacities
from nafill.structures.connected import section_of, section_spacings_nm
from nafill.structures.geometry import guest_indices

FILL_ORDERS = ("energy", "narrow-first")


@dataclass
class SectionState:
    """Where the next Na of a connected pore may go, and why (recorded in the step plan)."""

    rule: str
    open_section: int | None
    """Index of the section the candidates are restricted to (None: the whole pore)."""
    spacing_nm: float | None = None
    na_per_section: list[int] = field(default_factory=list)
    capacity_per_section: list[int] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    """``{"section", "spacing_nm", "reason"}`` for every closed section, narrowest first."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def narrow_order(atoms: Atoms) -> list[int]:
    """Section indices from the narrowest to the widest (ties: build order)."""
    spacings = section_spacings_nm(atoms)
    return sorted(range(len(spacings)), key=lambda k: (spacings[k], k))


def section_profile(steps: list[dict[str, Any]], host: Atoms, section: int) -> list[float]:
    """Sub-profile of one section: cumulative H increments of the steps whose new Na was put there (eV)."""
    out: list[float] = []
    h_prev = 0.0
    for s in steps:
        h = float(s["formation_enthalpy_eV"])
        site = s.get("site_A")
        if site and int(section_of(host, [site])[0]) == section:
            out.append((out[-1] if out else 0.0) + h - h_prev)
        h_prev = h
    return out


def section_state(atoms: Atoms, steps: list[dict[str, Any]], sharp_rise_V: float,
                  has_sites=None) -> SectionState:
    """The open section of a connected pore under the narrow-first rule (see the module docstring).

    Args:
        atoms: the current structure (host + Na).
        steps: the path's step records so far (``formation_enthalpy_eV``, ``site_A``).
        sharp_rise_V: threshold of the study reading inside a section, V.
        has_sites: optional callable ``k -> bool``: whether section ``k`` has a candidate site left.
    """
    order = narrow_order(atoms)
    if not order:
        return SectionState("narrow-first", None)
    spacings = section_spacings_nm(atoms)
    caps = section_capacities(atoms)
    na = guest_indices(atoms)
    where = section_of(atoms, atoms.positions[na]) if len(na) else np.zeros(0, int)
    counts = [int((where == k).sum()) for k in range(len(spacings))]
    state = SectionState("narrow-first", None, na_per_section=counts, capacity_per_section=list(caps))
    for k in order:
        reason = None
        if k < len(caps) and counts[k] >= caps[k]:
            reason = f"holds {counts[k]} Na, its theoretical capacity"
        else:
            sub = section_profile(steps, atoms, k)
            if sub:
                cap = study_practical_capacity(sub, sharp_rise_V=sharp_rise_V)
                if cap.nucleated and not cap.at_least:
                    reason = (f"practical limit reached after {cap.na} Na put there "
                              f"({cap.reason}; sharp rise > {sharp_rise_V:g} V)")
            if reason is None and has_sites is not None and not has_sites(k):
                reason = "no candidate site left in it"
        if reason is None:
            state.open_section, state.spacing_nm = k, spacings[k]
            return state
        state.closed.append({"section": k, "spacing_nm": spacings[k], "reason": reason})
    return state
