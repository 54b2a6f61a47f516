"""LaunchPad setup: an embedded store on laptops, a real MongoDB on clusters.

Embedded (default)
    FireWorks' mongomock support: the whole database lives in one JSON file. ``nafill fill``
    keeps one per run folder (``<out>/launchpad_store.json``: the store holds that fill only, so
    its cost follows the work and two fills in two folders never meet); ``nafill submit`` /
    ``run`` / ``status`` / ``export`` use ``$NAFILL_LAUNCHPAD_STORE`` or
    ``$NAFILL_HOME/launchpad_store.json`` (``--store FILE`` or a run folder picks another).
    FireWorks decides which Mongo client to use when it is first imported;
    :mod:`nafill.workflows.fireworks.env` handles that (the one place that imports FireWorks) and
    gives every LaunchPad of a process the same in-memory store.

    The file is written atomically and durably (:mod:`nafill.workflows.fireworks.store_file`:
    temporary file, fsync, rename, the previous state kept as ``<store>.bak``) by the task that
    completes a step, and when the process ends, so a kill loses at most the step in flight; a
    damaged file is refused with the recovery command. One process at a time holds a store: an
    exclusive lock (``<store>.lock``, a POSIX record lock, released when its owner dies) refuses a
    second one with the owner's PID.

    FireWorks' own tools run safely on it through nafill, which takes the lock and writes
    atomically: ``nafill lpad get_wflows``, ``nafill rlaunch rapidfire``.

Real MongoDB
    ``--launchpad FILE`` or ``$NAFILL_LAUNCHPAD`` names a LaunchPad YAML (see the top-level
    ``launchpad.yaml`` template). Passwords are never printed or logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from nafill.errors import NafillInputError, NafillRunError
from nafill.locks import ProcessLock, held_by_me, lent
from nafill.settings import nafill_home
from nafill.workflows.fireworks.env import (
    LaunchPad,
    forget_server_store,
    harden_server_store,
    reload_server_store,
    save_server_store,
    shared_server_store,
    use_embedded_store,
    use_mongodb,
)

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


STORE_NAME = "launchpad_store.json"
"""File name of an embedded store (in ``$NAFILL_HOME`` or in a run folder)."""

MONGO_TIMEOUT_MS = 5000
"""How long a real MongoDB may take to answer before nafill gives up (pymongo waits 30 s)."""


def resolve_store(store=None) -> Path:
    """The embedded store file: ``store`` (a file, or a run folder holding one), else the default."""
    if store is None or str(store) == "":
        return Path(os.path.abspath(embedded_store_path()))
    p = Path(os.path.abspath(Path(store).expanduser()))  # absolute: tasks run in launch folders
    if p.is_dir():
        return p / STORE_NAME
    return p


def StoreLock(store: Path) -> ProcessLock:  # noqa: N802 - a lock object, named like a class
    """Exclusive lock on the embedded store (one process at a time)."""
    return ProcessLock(Path(str(store) + ".lock"), f"the embedded LaunchPad store {str(store)!r}",
                       "wait for it to finish (one process at a time holds a store) or use a real "
                       "MongoDB with --launchpad")


def _server_store(lp):
    store = getattr(getattr(lp, "connection", None), "_store", None)
    return store if getattr(store, "_filename", None) else None


def flush(lp) -> None:
    """Write the embedded store back to its file, atomically and durably (no-op for MongoDB)."""
    store = _server_store(lp)
    if store is not None:
        _save(store)


def _save(store) -> None:
    try:
        save_server_store(store)
    except OSError as exc:
        raise NafillRunError(
            f"cannot write the embedded LaunchPad store {store._filename!r} ({exc.strerror or exc}); "
            "its last good state is kept: free the space (or fix the folder) and run the same command "
            "again to resume") from None


def checkpoint(lp) -> None:
    """A step was completed: make it durable now (embedded store; MongoDB writes are durable).

    Called by the tasks themselves, so ``rlaunch``/``qlaunch`` get the same guarantee as
    ``nafill run``. In a process that does not hold the store's lock (plain ``rlaunch``), the
    lock is taken here first; if another process holds it, this process's copy is dropped (never
    written over the other's) and the task fails.
    """
    store = _server_store(lp)
    if store is None:
        return
    if not held_by_me(str(store._filename) + ".lock"):
        try:
            StoreLock(Path(store._filename)).acquire()  # held until this process exits
        except NafillInputError:
            forget_server_store(store)
            raise
    _save(store)


@contextlib.contextmanager
def lend_store(lp) -> Iterator[None]:
    """Let another process use ``lp``'s embedded store meanwhile (a job a local queue adapter runs
    before its submit command returns: ``nafill qlaunch``). The store is written, its lock
    released; afterwards the lock is taken back and the store re-read from its file, so this
    process sees what the job did and never writes its own stale copy over it. A no-op on MongoDB.

    A job still running when the submit command returns (a real, asynchronous queue) holds the
    lock: taking it back fails with a message saying to use a MongoDB LaunchPad with such a queue.
    """
    store = _server_store(lp)
    if store is None:
        yield
        return
    flush(lp)
    try:
        with lent(StoreLock(Path(store._filename))):
            yield
    except NafillInputError as exc:
        forget_server_store(store)  # not ours any more: never written back from this process
        store._filename = None
        raise NafillRunError(
            f"the queued job still holds the embedded LaunchPad store ({exc}); qlaunch on an embedded "
            "store needs a local queue adapter whose submit command runs the job before it returns; "
            "use a MongoDB LaunchPad (-l my_launchpad.yaml) with a real queue") from None
    reload_server_store(store)


def _check_mongodb(lp, yaml_file: Path) -> None:
    try:
        lp.connection.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - pymongo raises many kinds; never echo the URI
        raise NafillInputError(
            f"--launchpad = {str(yaml_file)!r}: the MongoDB server does not answer within "
            f"{MONGO_TIMEOUT_MS / 1000:g} s ({type(exc).__name__}); check host, port and network"
        ) from None


@contextlib.contextmanager
def open_launchpad(launchpad_file=None, store=None) -> Iterator:
    """Open the LaunchPad (embedded by default), yield it, and close it cleanly.

    Embedded: ``store`` (file or run folder; default :func:`embedded_store_path`). Takes the
    store lock first (a second process is refused before it touches the store), refuses a
    damaged store, writes it back atomically on exit.
    """
    yaml_file = launchpad_file_from_env(launchpad_file)
    if yaml_file is not None:
        use_mongodb()
        try:
            lp = LaunchPad.from_file(str(yaml_file))
            kw = dict(lp.mongoclient_kwargs or {})
            if "serverSelectionTimeoutMS" not in kw:
                lp.mongoclient_kwargs = {**kw, "serverSelectionTimeoutMS": MONGO_TIMEOUT_MS}
                lp = LaunchPad.from_dict(lp.to_dict())
        except Exception as exc:  # noqa: BLE001 - never echo the file (it may hold a password)
            raise NafillInputError(f"cannot load the LaunchPad file {str(yaml_file)!r}: {type(exc).__name__}") from None
        _check_mongodb(lp, yaml_file)
        _CURRENT["lp"] = lp
        try:
            yield lp
        finally:
            _CURRENT.pop("lp", None)
        return
    path = resolve_store(store)
    lock = StoreLock(path)
    lock.acquire()
    lp = None
    server = None
    try:
        use_embedded_store(path)
        server = shared_server_store(path)  # refuses a damaged file
        lp = LaunchPad(strm_lvl="ERROR")
        if lp.fw_id_assigner.find_one({}) is None:  # a new store: initialise it once
            lp.reset("", require_password=False)
            flush(lp)
        previous = _CURRENT.get("lp")
        _CURRENT["lp"] = lp
        try:
            yield lp
        finally:
            if previous is not None:
                _CURRENT["lp"] = previous
            else:
                _CURRENT.pop("lp", None)
    finally:
        outermost = lock_depth(lock) == 1
        try:
            if lp is not None:
                flush(lp)
        finally:
            if server is not None and outermost:
                forget_server_store(server)  # a later open re-reads the file (rlaunch may change it)
            lock.release()


def lock_depth(lock: ProcessLock) -> int:
    from nafill.locks import _HELD

    held = _HELD.get(os.path.realpath(lock.path))
    return held[1] if held else 0


SPACINGS_COLLECTION = "nafill_spacings"
"""Collection of relaxed Na-layer models (one document per layer count and study)."""


def current_launchpad(task=None):
    """The LaunchPad running this task: the rocket's own (FireWorks hands it to every task whose
    spec has ``_add_launchpad_and_fw_id``, as nafill's have), else the one ``open_launchpad``
    opened, else FireWorks' auto-load (sharing this process's embedded store, see ``env``)."""
    lp = getattr(task, "launchpad", None) if task is not None else None
    if lp is not None:
        store = _server_store(lp)
        if store is not None:
            harden_server_store(store)  # rlaunch's store: atomic exit-time write, shared by the process
        return lp
    lp = _CURRENT.get("lp")
    if lp is None:
        lp = LaunchPad.auto_load()
        _CURRENT["lp"] = lp
    return lp


def results_collection(task=None):
    """The ``nafill_paths`` collection of the LaunchPad running ``task`` (see :func:`current_launchpad`)."""
    return current_launchpad(task).db[RESULTS_COLLECTION]


def describe_launchpad(lp) -> str:
    """Where the LaunchPad is, without credentials."""
    store = getattr(getattr(lp, "connection", None), "_store", None)
    if getattr(store, "_filename", None):
        return f"embedded store {store._filename}"
    return f"MongoDB database {lp.name!r} on {lp.host.split('@')[-1] if isinstance(lp.host, str) else 'host'}"
