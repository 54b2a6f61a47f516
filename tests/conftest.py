"""Shared fixtures: an isolated cache and nafill home for every test session."""

import json
import os
import signal
import subprocess
import time

import matplotlib
import pytest

matplotlib.use("Agg")

# The workflow tests run on the emt workflow-test backend (fast, and what they were written for);
# the default a user gets (surrogate) is checked in tests/workflows/backends/test_surrogate.py.
os.environ["NAFILL_CALCULATOR"] = "emt"


@pytest.fixture(autouse=True, scope="session")
def _isolated_nafill_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("nafill_home")
    old = {k: os.environ.get(k) for k in ("NAFILL_CACHE_DIR", "NAFILL_HOME")}
    os.environ["NAFILL_CACHE_DIR"] = str(base / "cache")
    os.environ["NAFILL_HOME"] = str(base / "home")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty embedded LaunchPad store of this test (``NAFILL_LAUNCHPAD_STORE``), no MongoDB file."""
    path = tmp_path / "store.json"
    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(path))
    monkeypatch.delenv("NAFILL_LAUNCHPAD", raising=False)
    return path


def _kill_when(cmd, ready, timeout_s: float, env=None, poll_s: float = 0.05) -> bool:
    """Start ``cmd``, wait until ``ready()`` is true (or it exits, or ``timeout_s`` passes), then
    SIGKILL it and reap it. Returns whether it was still running when the kill landed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(poll_s)
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


@pytest.fixture
def kill_when():
    """:func:`_kill_when`: SIGKILL a command at a chosen point of its progress (kill-and-resume tests)."""
    return _kill_when


@pytest.fixture
def emt_twin() -> str:
    """The ``emt`` backend's Na-C surface as a generic ASE calculator (``module:factory``): the same
    energies as ``emt``, run and searched as any costly backend is (a cheap level whose energies
    equal the expensive one's, or the bounded search of the generic backends)."""
    return "nafill.workflows.backends.emt_surrogate:NaCarbonEMT"


@pytest.fixture
def like_surface_backend(tmp_path):
    """(backend name, options) of one network of the shipped surrogate committee run as a generic
    ASE backend (``module:factory``): a surface like the surrogate's but not the same one, as
    SevenNet-0's is, for the fidelity ladder's tests with the ``surrogate`` as the cheap level.
    (``emt`` is unlike it: its Na cluster where the surrogate's stay apart.)"""
    from nafill.workflows.backends.surrogate.model import PARAMETERS_FILE

    shipped = json.loads(PARAMETERS_FILE.read_text())
    one = tmp_path / "surrogate_network0.json"
    one.write_text(json.dumps({**shipped, "networks": shipped["networks"][:1]}))
    return "nafill.workflows.backends.surrogate.model:surrogate_calculator", {"parameters_file": str(one)}
