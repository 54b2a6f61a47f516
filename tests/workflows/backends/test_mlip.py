"""The optional mlip backend (SevenNet-0, weights inside the sevenn wheel, offline on CPU).

CI installs the extra (torch 2.13.0 CPU first), so these run there; without the extra they are
skipped with the reason, and the clear install message is tested instead.
"""

import pytest

from nafill.errors import NafillInputError
from nafill.structures.pores import cavity
from nafill.workflows.backends.mlip import INSTALL_HINT, mlip_available
from nafill.workflows.backends.registry import get_backend

needs_mlip = pytest.mark.skipif(not mlip_available(), reason="optional extra nafill[mlip] not installed")


@pytest.mark.skipif(mlip_available(), reason="the extra is installed")
def test_missing_extra_says_how_to_install():
    with pytest.raises(NafillInputError, match="torch==2.13.0"):
        get_backend("mlip")
    assert "nafill[mlip]" in INSTALL_HINT


def test_bad_dispersion_refused():
    with pytest.raises(NafillInputError, match="dispersion = 'd4'"):
        get_backend("mlip", dispersion="d4")


@pytest.fixture(scope="module")
def mlip():
    return get_backend("mlip")


@needs_mlip
@pytest.mark.mlip
def test_mlip_bcc_and_short_fill(mlip, tmp_path):
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy

    bcc = mlip.bulk_na()
    assert bcc.lattice_A == pytest.approx(4.2, abs=0.1)
    path = fill(cavity(1.19), mlip, FillingPolicy(max_na=2, prescreen=2), out_dir=tmp_path / "m")
    h = [s["formation_enthalpy_eV"] for s in path.steps]
    assert h[0] > 0  # one Na on a wall is less stable than Na metal
    assert len(h) == 2
    assert path.backend["name"] == "mlip" and path.backend["settings"]["model"] == "7net-0"
