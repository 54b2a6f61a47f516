"""The ``mlip`` backend: a universal machine-learned potential whose weights ship on PyPI.

SevenNet-0 (``7net-0``, in the ``sevenn`` wheel) is the default: PBE-quality bcc Na
(a = 4.20 A, cohesive energy 1.09 eV, B = 7.0 GPa) and the right sign for one Na on a wall,
working offline on a CPU. Optional DFT-D3 dispersion from ``torch-dftd`` (zero or BJ damping)
matches the VASP setting (IVDW = 11 / 12); its cutoff defaults to 40 bohr, which changes energy
differences by < 1 meV at a twentieth of the cost of the default 95 bohr.

Install: see :data:`INSTALL_HINT` (the same words as the README and the error message).
"""

from __future__ import annotations

import warnings
from typing import Any

from ase.calculators.mixing import SumCalculator
from ase.units import Bohr

from nafill.errors import NafillInputError
from nafill.workflows.backends.base import AseCalculatorBackend

INSTALL_HINT = (
    "the mlip backend needs the optional extra: pip install torch==2.13.0 first (the CPU build; "
    "add --index-url https://download.pytorch.org/whl/cpu where no local wheel is configured), "
    'then pip install "nafill[mlip]" (or pip install -e ".[mlip]" from a checkout)'
)
DISPERSION = {None: None, "none": None, "d3-zero": "zero", "d3-bj": "bj"}


def mlip_available() -> bool:
    """True when ``sevenn`` (and torch) import."""
    try:
        import sevenn.calculator  # noqa: F401  # lazy: optional extra (mlip)
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return False
    return True


def make_sevennet_calculator(model: str = "7net-0", dispersion: str | None = None,
                             d3_cutoff_bohr: float = 40.0, device: str = "cpu"):
    """SevenNet calculator, optionally summed with torch-dftd's DFT-D3."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sevenn.calculator import SevenNetCalculator  # lazy: optional extra (mlip)

        calc = SevenNetCalculator(model, device=device)
    damping = DISPERSION[dispersion]
    if damping is None:
        return calc
    try:
        from torch_dftd.torch_dftd3_calculator import TorchDFTD3Calculator  # lazy: optional extra (mlip)
    except ImportError as exc:
        raise NafillInputError(f"dispersion = {dispersion!r} needs torch-dftd: {INSTALL_HINT}") from exc
    d3 = TorchDFTD3Calculator(device=device, damping=damping, xc="pbe", cutoff=d3_cutoff_bohr * Bohr)
    return SumCalculator([calc, d3])


class MlipBackend(AseCalculatorBackend):
    """SevenNet (default ``7net-0``) with optional DFT-D3 (``d3-zero`` or ``d3-bj``)."""

    def __init__(self, model: str = "7net-0", dispersion: str | None = None,
                 d3_cutoff_bohr: float = 40.0, maxstep_A: float = 0.2, device: str = "cpu") -> None:
        if dispersion not in DISPERSION:
            raise NafillInputError(
                f"dispersion = {dispersion!r} must be one of none, d3-zero, d3-bj"
            )
        if not mlip_available():
            raise NafillInputError(INSTALL_HINT)
        settings: dict[str, Any] = {"model": model, "dispersion": DISPERSION[dispersion] and dispersion,
                                    "d3_cutoff_bohr": d3_cutoff_bohr if DISPERSION[dispersion] else None}

        def factory():
            return make_sevennet_calculator(model, dispersion, d3_cutoff_bohr, device)

        super().__init__(factory, "mlip", settings, maxstep_A)
