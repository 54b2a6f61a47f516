"""The ``surrogate`` backend: the SevenNet-0-distilled Na-carbon model at laptop speed.

For frozen carbon hosts (the filling protocol); walls may move as rigid sheets along z (the
spacing workflow). What it is good for, with measured figures: the README's backend table and
``benchmarks/surrogate_accuracy.py``.
"""

from __future__ import annotations

import hashlib
from functools import partial

from nafill.workflows.backends.base import FrozenHostBackend
from nafill.workflows.backends.surrogate.model import PARAMETERS_FILE, NaCarbonSurrogate, load_parameters


class SurrogateBackend(FrozenHostBackend):
    """SevenNet-0 distilled into a radial-fingerprint network (numpy); host frozen or rigid walls."""

    searches_every_step = True

    def __init__(self, maxstep_A: float = 0.2, parameters_file: str | None = None) -> None:
        path = parameters_file or str(PARAMETERS_FILE)
        params = load_parameters(path)
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:16]
        settings = {"model": "nafill Na-C surrogate of SevenNet-0", "parameters_sha256": digest,
                    "reference": params.meta.get("reference")}
        super().__init__(partial(NaCarbonSurrogate, params), "surrogate", settings, maxstep_A)
