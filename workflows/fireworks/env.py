"""The one door to FireWorks: every nafill module imports FireWorks names from here.

FireWorks chooses its Mongo client when ``fireworks.fw_config`` is first imported: with
``MONGOMOCK_SERVERSTORE_FILE`` set it uses the embedded (mongomock) store, otherwise pymongo. nafill
cannot be sure it imports FireWorks first (a notebook, ``lpad`` or a test may have done so), so
:func:`use_embedded_store` sets the variable *and* patches the client FireWorks already chose, and
:func:`use_mongodb` undoes both; no other module touches the variable or FireWorks' client.
"""

from __future__ import annotations

import os
from pathlib import Path

import mongomock.gridfs
import mongomock_persistence
import pymongo
from fireworks import Firework, FiretaskBase, FWAction, FWorker, LaunchPad, Workflow, explicit_serialize, fw_config
from fireworks.core import launchpad as fw_launchpad
from fireworks.core import rocket
from fireworks.core.rocket_launcher import launch_rocket

from nafill.io import atomic_write_text

__all__ = [
    "FWAction", "FWorker", "FiretaskBase", "Firework", "LaunchPad", "Workflow", "explicit_serialize",
    "launch_rocket", "rocket", "use_embedded_store", "use_mongodb",
]


def use_embedded_store(store: Path) -> None:
    """Point FireWorks at the embedded store file (created with ``{}`` when missing)."""
    if not store.exists() or store.stat().st_size == 0:
        store.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(store, "{}")
    os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(store)
    fw_config.MONGOMOCK_SERVERSTORE_FILE = str(store)
    fw_config.MongoClient = mongomock_persistence.MongoClient
    fw_launchpad.MongoClient = mongomock_persistence.MongoClient
    if fw_config.GRIDFS_FALLBACK_COLLECTION:
        mongomock.gridfs.enable_gridfs_integration()


def use_mongodb() -> None:
    """Point FireWorks back at a real MongoDB (pymongo), whatever was set before."""
    os.environ.pop("MONGOMOCK_SERVERSTORE_FILE", None)
    fw_config.MONGOMOCK_SERVERSTORE_FILE = None
    fw_launchpad.MongoClient = pymongo.MongoClient
