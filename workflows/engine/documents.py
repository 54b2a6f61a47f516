"""Result documents: one schema for every backend and every runner.

* :class:`RelaxResult` comes back from every backend (surrogate, ML potential, any ASE
  calculator, VASP), like atomate2's common task document.
* :class:`StepRecord` is one kept step of a filling path; :class:`FillingPath` is the whole
  ``path.json`` document (keys relied on by analysis, FireWorks and export).

All are dataclasses with ``as_dict``/``from_dict`` that survive a JSON round trip exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ase import Atoms

from nafill.io import atoms_from_dict, atoms_to_dict

PATH_SCHEMA = "nafill.path/1"


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


class _Doc:
    """as_dict / from_dict for flat dataclasses (unknown keys are ignored on load)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class RelaxResult(_Doc):
    """Outcome of one relaxation or single point, identical in shape for every backend.

    Energies in eV, forces in eV/A. ``max_force_eV_A`` is over the free atoms only.
    """

    energy_eV: float | None
    max_force_eV_A: float | None
    n_ionic_steps: int
    converged: bool
    structure: dict[str, Any] | None
    backend: str
    settings: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    corrections: list[dict[str, Any]] = field(default_factory=list)
    """Custodian corrections applied (VASP); empty for the surrogates."""
    error: str | None = None
    """Why the calculation failed (then ``energy_eV`` is None)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Backend-specific results, e.g. ``na_bader_valence`` (VASP)."""
    n_evaluations: int = 0
    """Energy+force evaluations spent (ASE relaxations: steps + 1; single points: 1; VASP: ionic
    steps). 0 when the backend does not report it (then the ionic steps count)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.energy_eV is not None

    def atoms(self) -> Atoms:
        """The final structure as ASE ``Atoms``."""
        if self.structure is None:
            raise ValueError(f"no structure in this result ({self.error})")
        return atoms_from_dict(self.structure)

    @classmethod
    def failed(cls, backend: str, settings: dict, error: str, wall_s: float = 0.0) -> RelaxResult:
        return cls(None, None, 0, False, None, backend, settings, wall_s, [], error)

    @classmethod
    def from_atoms(
        cls,
        atoms: Atoms,
        energy_eV: float,
        max_force_eV_A: float,
        n_ionic_steps: int,
        converged: bool,
        backend: str,
        settings: dict,
        wall_s: float,
        **kw: Any,
    ) -> RelaxResult:
        return cls(
            float(energy_eV),
            _nan_to_none(float(max_force_eV_A)),
            int(n_ionic_steps),
            bool(converged),
            atoms_to_dict(atoms),
            backend,
            settings,
            float(wall_s),
            **kw,
        )


@dataclass
class StepRecord(_Doc):
    """One kept step of a filling path: the structure with ``n_na`` Na and how it was chosen."""

    n_na: int
    energy_eV: float
    formation_enthalpy_eV: float
    """H(x) = E(x) - E(0) - x mu_Na."""
    step_voltage_V: float
    """V(x-1 -> x) = -(E(x) - E(x-1) - mu_Na) / e."""
    n_candidates: int
    """Symmetry-distinct candidate sites proposed (summed over the beam)."""
    n_relaxed: int
    """Candidates relaxed with the backend."""
    wall_s: float
    site_A: list[float] = field(default_factory=list)
    """Initial position of the Na added in the kept structure, A."""
    site_kind: str = ""
    n_proposed: int = 0
    """Raw sites before filtering, duplicate and symmetry merging."""
    n_merged: int = 0
    """Sites merged as duplicates or by symmetry."""
    n_failed: int = 0
    """Relaxations that failed or left the pore (recorded in ``failures``)."""
    candidate_energies_eV: list[float | None] = field(default_factory=list)
    """Relaxed energy of every relaxed candidate, in relaxation order (None = failed)."""
    prescreen_energies_eV: list[float] = field(default_factory=list)
    max_force_eV_A: float | None = None
    converged: bool = True
    n_ionic_steps: int = 0
    parent_rank: int = 0
    """Index, in the previous step's beam, of the structure this one grew from."""
    beam_energies_eV: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    na_bader_valence: float | None = None
    structure: dict[str, Any] | None = None
    n_screened: int = 0
    """Cheap-backend relaxations spent by multi-fidelity screening (0: no screening)."""
    n_saved_relaxations: int = 0
    """Expensive relaxations the screening saved (candidates considered minus relaxed)."""
    cost: dict[str, Any] = field(default_factory=dict)
    """What the step cost, per backend name: ``evaluations`` (energy+force calls, the unit VASP
    and ML-potential users pay), ``relaxations``, ``single_points``, ``wall_s``."""
    ladder: dict[str, Any] | None = None
    """Fidelity-ladder record: cheap backend, cheap rank of the kept structure, why candidates
    were added, the correction used and its prediction error (None: single fidelity)."""
    fill_order: dict[str, Any] | None = None
    """Narrow-first fill of a connected pore: the section the new Na was restricted to and why the
    narrower ones were closed (None: every site competed)."""
    elapsed_s: float = 0.0
    """Wall-clock time from the previous step's end (or the run's start) to this step's end, s."""

    def atoms(self) -> Atoms:
        return atoms_from_dict(self.structure)  # type: ignore[arg-type]


@dataclass
class FillingPath(_Doc):
    """The ``path.json`` document: host, backend, policy, references, steps, summary, state."""

    host: dict[str, Any]
    backend: dict[str, Any]
    policy: dict[str, Any]
    reference: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """Resume state: the beam (structures + energies), ``finished`` and ``stop_reason``."""
    schema: str = PATH_SCHEMA
    nafill_version: str = ""

    def step_records(self) -> list[StepRecord]:
        return [StepRecord.from_dict(s) for s in self.steps]

    def host_atoms(self) -> Atoms:
        return atoms_from_dict(self.host)
