"""Relaxed cavity spacings: relax a model of k bcc(110) Na layers between the walls (walls and
Na free) and read off the wall-to-wall spacing it settles at (the spacing study's science; the
FireWorks side is :mod:`nafill.workflows.fireworks.spacing`)."""

from __future__ import annotations

from nafill.errors import NafillRunError
from nafill.structures.geometry import wall_spacings_A
from nafill.structures.na_layers import na_layers_model
from nafill.workflows.backends.base import Backend
from nafill.workflows.engine.documents import RelaxResult


def relaxed_layer_spacing(backend: Backend, layers: int, supercell: tuple[int, int] = (4, 4),
                          fmax_eV_A: float = 0.02) -> tuple[RelaxResult, float]:
    """Relax the ``layers``-layer model with ``backend``; return the result and the spacing, nm
    (rounded to 1e-4 nm). Raises :class:`NafillRunError` if the relaxation failed."""
    model = na_layers_model(layers, supercell)
    res = backend.relax_walls_and_na(model, fmax_eV_A)
    if not res.ok:
        raise NafillRunError(f"relaxing the {layers}-layer model failed: {res.error}")
    return res, round(float(wall_spacings_A(res.atoms()).max()) / 10.0, 4)
