"""The one door to FireWorks: every nafill module imports FireWorks names from here.

FireWorks chooses its Mongo client when ``fireworks.fw_config`` is first imported: with
``MONGOMOCK_SERVERSTORE_FILE`` set it uses the embedded (mongomock) store, otherwise pymongo. nafill
cannot be sure it imports FireWorks first (a notebook, ``lpad`` or a test may have done so), so
:func:`use_embedded_store` sets the variable *and* patches the client FireWorks already chose, and
:func:`use_mongodb` undoes both; no other module touches the variable or FireWorks' client.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import mongomock
import mongomock.gridfs
import mongomock_persistence  # noqa: F401 - patches mongomock's stores (to_dict/from_dict)
import pymongo
from mongomock.store import DatabaseStore, ServerStore
from fireworks import Firework, FiretaskBase, FWAction, FWorker, LaunchPad, Workflow, explicit_serialize, fw_config
from fireworks.core import launchpad as fw_launchpad
from fireworks.core import rocket
from fireworks.core.rocket_launcher import launch_rocket

from nafill.workflows.fireworks.store_file import read_store, write_store
from nafill.workflows.fireworks.structure_refs import sync_pending

__all__ = [
    "FWAction", "FWorker", "FiretaskBase", "Firework", "LaunchPad", "Workflow", "explicit_serialize",
    "launch_rocket", "rocket", "use_embedded_store", "use_mongodb", "shared_server_store",
    "harden_server_store", "save_server_store", "reload_server_store",
]

_SERVER_STORES: dict[str, ServerStore] = {}
"""One in-memory embedded store per file and process: every LaunchPad of this process (nafill's,
``rlaunch``'s, one a task auto-loads) shares it, so no second copy overwrites the first."""


def _write_at_exit(store: ServerStore) -> None:
    if store._filename:
        sync_pending()  # the structures the store references reach the disk first
        write_store(store._filename, store.to_dict())


def harden_server_store(store: ServerStore) -> ServerStore:
    """Replace mongomock's exit-time in-place write by nafill's atomic, durable one (with backup)."""
    old = getattr(store, "_finalizer", None)
    if old is not None and getattr(store, "_nafill_hardened", False):
        return store
    if old is not None:
        old.detach()
    store._finalizer = weakref.finalize(store, _write_at_exit, store)
    store._nafill_hardened = True
    key = os.path.realpath(store._filename)
    _SERVER_STORES.setdefault(key, store)
    return store


def shared_server_store(filename) -> ServerStore:
    """This process's store for ``filename`` (read strictly the first time: a damaged file is refused)."""
    key = os.path.realpath(filename)
    store = _SERVER_STORES.get(key)
    if store is None:
        data = read_store(filename)
        store = ServerStore.__new__(ServerStore)
        store._filename = str(filename)
        store._databases = {k: DatabaseStore.from_dict(v) for k, v in data.items()}
        store._finalizer = None
        harden_server_store(store)
        _SERVER_STORES[key] = store
    return store


def save_server_store(store: ServerStore) -> None:
    """Write ``store`` back to its file now (atomic, durable, previous state kept as ``.bak``);
    the structure files it references are made durable first."""
    sync_pending()
    write_store(store._filename, store.to_dict())


def reload_server_store(store: ServerStore) -> None:
    """Re-read ``store`` from its file in place (another process wrote it, e.g. a local queue's
    job): every Collection object already handed out sees the new documents."""
    data = read_store(store._filename)
    for name, db in data.items():
        new = DatabaseStore.from_dict(db)
        old = store._databases.get(name)
        if old is None:
            store._databases[name] = new
            continue
        for cname, coll in new._collections.items():
            if cname in old._collections:
                old._collections[cname]._documents = coll._documents
            else:
                old._collections[cname] = coll
        for cname, coll in old._collections.items():
            if cname not in new._collections:
                coll._documents = type(coll._documents)()


def forget_server_store(store: ServerStore) -> None:
    """Drop ``store`` from this process (no exit-time write): its file may be re-read later."""
    fin = getattr(store, "_finalizer", None)
    if fin is not None:
        fin.detach()
    if not store._filename:
        return
    key = os.path.realpath(store._filename)
    if _SERVER_STORES.get(key) is store:
        del _SERVER_STORES[key]


def embedded_client(*args, **kwargs):
    """FireWorks' Mongo client in embedded mode: a mongomock client on this process's shared store."""
    kwargs.pop("_store", None)
    filename = os.environ.get("MONGOMOCK_SERVERSTORE_FILE") or fw_config.MONGOMOCK_SERVERSTORE_FILE
    return mongomock.MongoClient(*args, _store=shared_server_store(filename), **kwargs)


def use_embedded_store(store: Path) -> None:
    """Point FireWorks at the embedded store file (a new store when missing, refused when damaged)."""
    os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(store)
    fw_config.MONGOMOCK_SERVERSTORE_FILE = str(store)
    fw_config.MongoClient = embedded_client
    fw_launchpad.MongoClient = embedded_client
    if fw_config.GRIDFS_FALLBACK_COLLECTION:
        mongomock.gridfs.enable_gridfs_integration()


if os.environ.get("MONGOMOCK_SERVERSTORE_FILE"):
    # imported inside FireWorks' own tools (rlaunch running a nafill task): LaunchPads made from
    # now on share the store rlaunch already opened, written atomically at exit
    fw_config.MongoClient = embedded_client
    fw_launchpad.MongoClient = embedded_client


def use_mongodb() -> None:
    """Point FireWorks back at a real MongoDB (pymongo), whatever was set before."""
    os.environ.pop("MONGOMOCK_SERVERSTORE_FILE", None)
    fw_config.MONGOMOCK_SERVERSTORE_FILE = None
    fw_launchpad.MongoClient = pymongo.MongoClient
