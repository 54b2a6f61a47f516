"""LaunchPad setup: an embedded store on laptops, a real MongoDB on clusters.

Embedded (default)
    FireWorks' mongomock support: the whole database lives in one JSON file,
    ``$NAFILL_HOME/launchpad_store.json`` (created with ``{}`` when missing). FireWorks decides
    which Mongo client to use when it is first imported; :mod:`nafill.workflows.fireworks.env`
    handles that (the one place that imports FireWorks).
    The store is in memory while a process runs; nafill writes it back atomically after every
    launched Firework and on close, so a killed runner loses at most the Firework in flight.
    Because two processes would overwrite each other's store, nafill takes an exclusive lock
    (``launchpad_store.json.lock``) and refuses a second process with a clear message.

    The standard FireWorks commands work on the same store while no nafill process holds it::

        MONGOMOCK_SERVERSTORE_FILE=~/.nafill/launchpad_store.json lpad get_wflows

Real MongoDB
    ``--launchpad FILE`` or ``$NAFILL_LAUNCHPAD`` names a LaunchPad YAML (see the top-level
    ``launchpad.yaml`` template). Passwords are never printed or logged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import bson.json_util

from nafill.errors import NafillInputError
from nafill.io import atomic_write_text
from nafill.settings import nafill_home
from nafill.workflows.fireworks.env import LaunchPad, use_embedded_store, use_mongodb

log = logging.getLogger(__name__)

RESULTS_COLLECTION = "nafill_paths"
"""Collection of path documents (one per filling path, same schema as path.json)."""

_CURRENT: dict = {}
"""The LaunchPad opened by this process (tasks find the results collection through it)."""


def embedded_store_path() -> Path:
    """The embedded store file (``$NAFILL_LAUNCHPAD_STORE`` or ``$NAFILL_HOME/launchpad_store.json``)."""
    env = os.environ.get("NAFILL_LAUNCHPAD_STORE")
    return Path(env).expanduser() if env else nafill_home() / "launchpad_store.json"


def launchpad_file_from_env(launchpad_file=None) -> Path | None:
    """The LaunchPad YAML to use: the argument, else ``$NAFILL_LAUNCHPAD``, else None (embedded)."""
    value = launchpad_file or os.environ.get("NAFILL_LAUNCHPAD")
    if not value:
        return None
    p = Path(value).expanduser()
    if not p.is_file():
        raise NafillInputError(f"--launchpad = {str(value)!r} does not exist or is not a file")
    return p


class StoreLock:
    """Exclusive, non-blocking lock on the embedded store (one process at a time)."""

    def __init__(self, store: Path) -> None:
        self.path = Path(str(store) + ".lock")
        self._fh = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise NafillInputError(
                    f"the embedded LaunchPad store {str(self.path)[:-5]!r} is in use by {holder}; "
                    "wait for it to finish (one process at a time: the store is written back when "
                    "a process exits) or use a real MongoDB with --launchpad"
                ) from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"nafill process pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.seek(0)
                self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def flush(lp) -> None:
    """Write the embedded store back to its file atomically (no-op for a real MongoDB)."""
    store = getattr(getattr(lp, "connection", None), "_store", None)
    filename = getattr(store, "_filename", None)
    if store is None or not filename:
        return
    atomic_write_text(filename, bson.json_util.dumps(store.to_dict()))


@contextlib.contextmanager
def open_launchpad(launchpad_file=None) -> Iterator:
    """Open the LaunchPad (embedded by default), yield it, and close it cleanly.

    Embedded: takes the store lock first (a second process is refused before it touches the
    store), flushes atomically on exit and detaches mongomock's own exit-time writer.
    """
    yaml_file = launchpad_file_from_env(launchpad_file)
    if yaml_file is not None:
        use_mongodb()
        try:
            lp = LaunchPad.from_file(str(yaml_file))
        except Exception as exc:  # noqa: BLE001 - never echo the file (it may hold a password)
            raise NafillInputError(f"cannot load the LaunchPad file {str(yaml_file)!r}: {type(exc).__name__}") from None
        _CURRENT["lp"] = lp
        try:
            yield lp
        finally:
            _CURRENT.pop("lp", None)
        return
    store = embedded_store_path()
    lock = StoreLock(store)
    lock.acquire()
    lp = None
    try:
        use_embedded_store(store)
        lp = LaunchPad(strm_lvl="ERROR")
        if lp.fw_id_assigner.find_one({}) is None:  # a new store: initialise it once
            lp.reset("", require_password=False)
        _CURRENT["lp"] = lp
        yield lp
    finally:
        _CURRENT.pop("lp", None)
        if lp is not None:
            try:
                flush(lp)
            finally:
                finalizer = getattr(lp.connection._store, "_finalizer", None)
                if finalizer is not None:
                    finalizer.detach()
        lock.release()


SPACINGS_COLLECTION = "nafill_spacings"
"""Collection of relaxed Na-layer models (one document per layer count and study)."""


def current_launchpad():
    """The LaunchPad of this process: the one ``open_launchpad`` opened, else FireWorks' auto-load."""
    lp = _CURRENT.get("lp")
    if lp is None:
        lp = LaunchPad.auto_load()
        _CURRENT["lp"] = lp
    return lp


def results_collection():
    """The ``nafill_paths`` collection of the LaunchPad in use.

    Inside ``nafill run`` that is the open LaunchPad; under ``rlaunch`` on a cluster it is the
    one FireWorks auto-loads (``my_launchpad.yaml``), exactly as rlaunch itself does.
    """
    return current_launchpad().db[RESULTS_COLLECTION]


def describe_launchpad(lp) -> str:
    """Where the LaunchPad is, without credentials."""
    store = getattr(getattr(lp, "connection", None), "_store", None)
    if getattr(store, "_filename", None):
        return f"embedded store {store._filename}"
    return f"MongoDB database {lp.name!r} on {lp.host.split('@')[-1] if isinstance(lp.host, str) else 'host'}"
