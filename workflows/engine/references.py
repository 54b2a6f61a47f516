"""Reference energies of a fill, computed with the fill's own backend and settings.

* ``mu_na_eV``: energy per atom of relaxed bcc Na (lattice constant optimised).
* ``e_host_eV``: the empty host with its atoms frozen as in the fill (a single point).

Both are cached as small JSON files under the nafill cache directory (``$NAFILL_CACHE_DIR``,
default ``~/.cache/nafill``), keyed by the backend fingerprint (and the host's hash for
``e_host``), so a second run with the same backend does not recompute them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ase import Atoms

from nafill.errors import NafillRunError
from nafill.io import atomic_write_text, atoms_to_dict
from nafill.settings import cache_dir
from nafill.workflows.backends.base import Backend

log = logging.getLogger(__name__)


def host_hash(atoms: Atoms) -> str:
    """Stable hash of a host's numbers, positions, cell and frozen atoms."""
    d = atoms_to_dict(atoms)
    d.pop("info", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _cached(path: Path, compute, use_cache: bool = True) -> dict[str, Any]:
    """``compute()`` once per ``path``: read the JSON cache when there, else compute and store.

    The returned dict has ``cached`` = whether it came from the cache.
    """
    if not use_cache:
        return compute()
    value, hit = _read_or_compute(path, compute)
    value["cached"] = hit
    return value


def _read_or_compute(path: Path, compute) -> tuple[dict[str, Any], bool]:
    if path.is_file():
        try:
            return json.loads(path.read_text()), True
        except (OSError, json.JSONDecodeError):
            log.warning("ignoring unreadable reference cache %s", path)
    value = compute()
    atomic_write_text(path, json.dumps(value, indent=1))
    return value, False


def na_reference(backend: Backend, use_cache: bool = True) -> dict[str, Any]:
    """bcc Na reference: ``mu_na_eV``, ``bcc_lattice_A``, ``bcc_bulk_modulus_GPa``."""

    def compute() -> dict[str, Any]:
        log.info("computing the bcc Na reference with %s", backend.name)
        res = backend.bulk_na()
        return {
            "mu_na_eV": res.energy_per_atom_eV,
            "bcc_lattice_A": res.lattice_A,
            "bcc_bulk_modulus_GPa": res.bulk_modulus_GPa,
            "backend_fingerprint": backend.fingerprint(),
        }

    return _cached(cache_dir() / "references" / f"na_{backend.fingerprint()}.json", compute, use_cache)


def host_reference(backend: Backend, host: Atoms, use_cache: bool = True) -> dict[str, Any]:
    """Empty-host reference: ``e_host_eV`` (a single point, the host frozen as in the fill)."""

    def compute() -> dict[str, Any]:
        res = backend.single_point(host)
        if not res.ok:
            raise NafillRunError(f"the empty-host single point failed with {backend.name}: {res.error}")
        return {"e_host_eV": res.energy_eV, "host_hash": host_hash(host)}

    return _cached(cache_dir() / "references" / f"host_{backend.fingerprint()}_{host_hash(host)}.json",
                   compute, use_cache)


def references(backend: Backend, host: Atoms, use_cache: bool = True) -> dict[str, Any]:
    """Both references in one dict (the ``reference`` block of ``path.json``)."""
    na = na_reference(backend, use_cache)
    h = host_reference(backend, host, use_cache)
    return {
        "mu_na_eV": na["mu_na_eV"],
        "e_host_eV": h["e_host_eV"],
        "bcc_lattice_A": na["bcc_lattice_A"],
        "bcc_bulk_modulus_GPa": na["bcc_bulk_modulus_GPa"],
        "backend_fingerprint": backend.fingerprint(),
        "host_hash": h["host_hash"],
    }
