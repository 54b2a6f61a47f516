"""User-level settings: where nafill keeps its cache and its embedded LaunchPad store.

* ``NAFILL_HOME`` (default ``~/.nafill``): user directory.
* ``NAFILL_CACHE_DIR`` (default ``~/.cache/nafill``): reference-energy cache.
"""

from __future__ import annotations

import os
from pathlib import Path


def nafill_home() -> Path:
    """The user's nafill directory (created on demand)."""
    p = Path(os.environ.get("NAFILL_HOME", Path.home() / ".nafill")).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    """The cache directory for reference energies (created on demand)."""
    p = Path(os.environ.get("NAFILL_CACHE_DIR", Path.home() / ".cache" / "nafill")).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p
