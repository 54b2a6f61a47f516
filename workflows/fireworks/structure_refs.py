"""Structures passed by reference: what the LaunchPad holds is small, whatever the fill.

Firework specs (relax candidates, the select plan's reserve), the results a relaxation pushes to
its select Firework and the path documents of ``nafill_paths`` carry ``{"nafill_ref": REF}``
where an atoms dictionary (:func:`nafill.io.atoms_to_dict`) used to be; :func:`hydrate` puts the
structures back. The LaunchPad (and, embedded, its one JSON file rewritten at every checkpoint)
then holds energies, states and references only: a few kB per step instead of ~100 kB.

Two kinds of object, both immutable once written:

* **packs** (``p/<uuid>#k``): all structures of one payload (a relax Firework's candidates, its
  relaxed results) in one object, written once and read by the Firework that needs it. Unique per
  Firework, so a finished workflow's packs are garbage once its specs are compacted.
* **kept structures** (``s/<sha256>``): content-addressed, one object per structure of a path
  document (host, steps, beam). Saving the path after every step writes only the new ones.

Where they live follows the LaunchPad:

* embedded store ``<dir>/<name>.json`` -> files in ``<dir>/<name>.structures/`` (``p-<uuid>.json``,
  ``s-<sha256>.json``).
  A file is written to a temporary name and renamed (readers never see half of one); it is
  fsynced, with its folder, by :func:`sync_pending` just before the store file that references it
  is written (:mod:`nafill.workflows.fireworks.env`), so a power cut never leaves the store
  pointing at a structure the disk lost, and a step costs a handful of fsyncs, not one per
  structure. :func:`sweep` removes the files neither the store nor its ``.bak`` references.
* MongoDB -> the ``nafill_structures`` collection of the LaunchPad's database (durable writes);
  a compacted workflow's packs are deleted with :meth:`MongoStructures.delete`.

Documents written before structures moved out (inline atoms dictionaries) load unchanged:
:func:`hydrate` leaves inline structures alone.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import re
import threading
import uuid
from pathlib import Path
from typing import Any

from nafill.errors import NafillRunError

REF_KEY = "nafill_ref"
"""The one key of a reference dictionary: ``{"nafill_ref": "p/<uuid>#3"}`` or ``{"nafill_ref": "s/<sha>"}``."""

STRUCTURES_COLLECTION = "nafill_structures"
"""MongoDB collection of packs and kept structures (``_id`` = the reference without ``#k``)."""

_REF_RE = re.compile(r'"nafill_ref":\s*"([ps]/[0-9a-f]+)')
_ATOMS_KEYS = ("numbers", "positions", "cell", "pbc")


def is_structure(obj: Any) -> bool:
    """An atoms dictionary as :func:`nafill.io.atoms_to_dict` writes it."""
    return isinstance(obj, dict) and all(k in obj for k in _ATOMS_KEYS)


def is_ref(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) == 1 and isinstance(obj.get(REF_KEY), str)


def structure_hash(structure: dict[str, Any]) -> str:
    """Content address of a structure (its canonical JSON: every float bit counts)."""
    return hashlib.sha256(json.dumps(structure, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _copy(structure: dict[str, Any]) -> dict[str, Any]:
    """A private copy of a cached structure (cheaper than ``copy.deepcopy``; the values are
    lists of numbers, lists of lists, and a flat ``info`` dictionary)."""
    out = {}
    for k, v in structure.items():
        if isinstance(v, list):
            out[k] = [list(x) if isinstance(x, list) else x for x in v]
        elif isinstance(v, dict):
            out[k] = dict(v)
        else:
            out[k] = v
    return out


def _walk(obj: Any, leaf) -> Any:
    """A copy of ``obj`` with ``leaf(x)`` in place of every structure or reference in it."""
    if isinstance(obj, dict):
        if is_structure(obj) or is_ref(obj):
            return leaf(obj)
        return {k: _walk(v, leaf) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, leaf) for v in obj]
    if isinstance(obj, tuple):
        return [_walk(v, leaf) for v in obj]
    return obj


def refs_in(obj: Any) -> set[str]:
    """Every object (``p/<uuid>`` or ``s/<sha>``) referenced anywhere in ``obj``."""
    found: set[str] = set()

    def leaf(x):
        if is_ref(x):
            found.add(x[REF_KEY].split("#", 1)[0])
        return x

    _walk(obj, leaf)
    return found


class StructureStore:
    """Where the structures of one LaunchPad live (see the module doc)."""

    def __init__(self) -> None:
        self._cache: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._known: set[str] = set()

    # ----------------------------------------------------------------- backend
    def _put(self, key: str, value: Any, unique: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _get(self, key: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def where(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- cache
    def _cached(self, key: str) -> Any:
        value = self._cache.get(key)
        if value is None:
            value = self._get(key)
            if value is None:
                raise NafillRunError(
                    f"structure {key!r} is missing from {self.where()} (deleted, or the store was restored "
                    "from an older backup); re-run the fill with --overwrite to recompute it")
            self._cache[key] = value
            if len(self._cache) > 256:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return value

    # ----------------------------------------------------------------- API
    def put_pack(self, structures: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Store ``structures`` as one pack; their references, in order."""
        key = f"p/{uuid.uuid4().hex}"
        self._put(key, list(structures), unique=True)
        self._cache[key] = [_copy(x) for x in structures]
        return [{REF_KEY: f"{key}#{k}"} for k in range(len(structures))]

    def put_kept(self, structure: dict[str, Any]) -> dict[str, str]:
        """Store one structure under its content address (a no-op when it is already there)."""
        key = f"s/{structure_hash(structure)}"
        if key not in self._known:
            self._put(key, structure, unique=False)
            self._known.add(key)
            self._cache[key] = _copy(structure)
        return {REF_KEY: key}

    def get(self, ref: dict[str, str] | str) -> dict[str, Any]:
        """The structure a reference names (a private copy)."""
        text = ref[REF_KEY] if isinstance(ref, dict) else ref
        key, _, index = text.partition("#")
        value = self._cached(key)
        if index:
            try:
                value = value[int(index)]
            except (IndexError, ValueError):
                raise NafillRunError(f"structure reference {text!r} points outside its pack in {self.where()}") from None
        return _copy(value)

    def dehydrate_pack(self, obj: Any) -> Any:
        """``obj`` with every structure in it replaced by a reference into one new pack."""
        key = f"p/{uuid.uuid4().hex}"
        found: list[dict[str, Any]] = []

        def leaf(x):
            if is_structure(x):
                found.append(x)
                return {REF_KEY: f"{key}#{len(found) - 1}"}
            return x

        out = _walk(obj, leaf)
        if found:
            self._put(key, found, unique=True)
            self._cache[key] = [_copy(x) for x in found]
        return out

    def dehydrate_kept(self, obj: Any) -> Any:
        """``obj`` with every structure in it replaced by its content-addressed reference."""
        return _walk(obj, lambda x: self.put_kept(x) if is_structure(x) else x)

    def hydrate(self, obj: Any) -> Any:
        """``obj`` with every reference replaced by the structure it names."""
        return _walk(obj, lambda x: self.get(x) if is_ref(x) else x)


# ----------------------------------------------------------------------------- files (embedded)
def _fsync(path: str, directory: bool = False) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Syncer:
    """fsyncs structure files in a background thread as soon as they are written (the disk works
    while the step goes on computing); :meth:`wait` finishes what is left, then fsyncs the
    folders once. Files written by one process, synced before that process writes the store."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._dirs: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, path: str) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child starts afresh (no thread was inherited)
                self.__init__()
            self._dirs.add(os.path.dirname(path))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="nafill-fsync", daemon=True)
                self._thread.start()
        self._queue.put(path)

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            try:
                _fsync(path)
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        while True:  # do the rest here (the thread may be gone at interpreter exit)
            try:
                path = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                _fsync(path)
            finally:
                self._queue.task_done()
        self._queue.join()  # the one the thread may be doing
        with self._lock:
            dirs, self._dirs = self._dirs, set()
        for d in sorted(dirs):
            _fsync(d, directory=True)


_SYNCER = _Syncer()


def sync_pending() -> None:
    """Make every structure file written so far durable (called before the store is written)."""
    _SYNCER.wait()


def structures_dir(store_file) -> Path:
    """The folder of an embedded store's structures: ``<dir>/<name>.structures`` next to ``<name>.json``."""
    p = Path(store_file)
    return p.parent / f"{p.stem}.structures"


class FileStructures(StructureStore):
    """Structures of an embedded store, as JSON files in :func:`structures_dir`."""

    def __init__(self, folder) -> None:
        super().__init__()
        self.folder = Path(folder)

    def where(self) -> str:
        return f"the structures folder {str(self.folder)!r}"

    def _path(self, key: str) -> Path:
        return self.folder / f"{key.replace('/', '-', 1)}.json"  # one folder: one directory fsync

    def _put(self, key: str, value: Any, unique: bool) -> None:
        path = self._path(key)
        if not unique and path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(value, separators=(",", ":")))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise NafillRunError(
                f"cannot write a structure into {str(self.folder)!r} ({exc.strerror or exc}); the store "
                "keeps its last good state: free the space (or fix the folder) and run the same command "
                "again to resume") from None
        _SYNCER.submit(str(path))

    def _get(self, key: str) -> Any:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise NafillRunError(f"structure file {str(self._path(key))!r} is unreadable ({exc})") from None

    def files(self) -> list[Path]:
        return [f for f in self.folder.iterdir() if f.is_file()] if self.folder.is_dir() else []

    def sweep(self, referenced: set[str]) -> int:
        """Delete the files whose objects are not in ``referenced`` (and stale temporary files)."""
        n = 0
        for f in self.files():
            name = f.name
            key = name[:-5].replace("-", "/", 1) if name.endswith(".json") and name[:2] in ("p-", "s-") else None
            if key is None or key not in referenced:
                with contextlib.suppress(OSError):
                    f.unlink()
                    self._cache.pop(key, None)
                    self._known.discard(key or "")
                    n += 1
        return n


def referenced_in_text(text: str) -> set[str]:
    """Every ``p/<uuid>`` and ``s/<sha>`` named in a store file's text."""
    return set(_REF_RE.findall(text))


def sweep(store_file) -> int:
    """Remove the structure files ``store_file`` no longer references.

    Run by the process holding the store's lock right after it wrote the store (nothing it
    references is in flight then). Kept structures its backup (``.bak``) names stay too, so
    ``cp <store>.bak <store>`` still finds every path's structures; packs go as soon as the store
    drops them (compaction of a finished fill), because a Firework the backup could run again
    (READY, RUNNING) belongs to a workflow that is not finished, hence not compacted, and its
    packs are still named by the store. Returns the number of files removed.
    """
    store_file = Path(store_file)
    try:
        referenced = referenced_in_text(store_file.read_text(encoding="utf-8"))
    except OSError:
        return 0  # no store to compare with: remove nothing
    with contextlib.suppress(OSError):
        referenced |= {k for k in referenced_in_text(Path(str(store_file) + ".bak").read_text(encoding="utf-8"))
                       if k.startswith("s/")}
    return _file_store(structures_dir(store_file)).sweep(referenced)


# ----------------------------------------------------------------------------- MongoDB
class MongoStructures(StructureStore):
    """Structures in the ``nafill_structures`` collection of a real MongoDB."""

    def __init__(self, db) -> None:
        super().__init__()
        self.coll = db[STRUCTURES_COLLECTION]
        self._name = getattr(db, "name", "?")

    def where(self) -> str:
        return f"the {STRUCTURES_COLLECTION} collection of database {self._name!r}"

    def _put(self, key: str, value: Any, unique: bool) -> None:
        if unique:
            self.coll.insert_one({"_id": key, "value": value})
        else:
            self.coll.replace_one({"_id": key}, {"_id": key, "value": value}, upsert=True)

    def _get(self, key: str) -> Any:
        doc = self.coll.find_one({"_id": key})
        return None if doc is None else doc["value"]

    def delete(self, keys) -> int:
        keys = [k for k in keys if k.startswith("p/")]  # kept structures may be shared by paths
        if not keys:
            return 0
        return self.coll.delete_many({"_id": {"$in": keys}}).deleted_count


_FILE_STORES: dict[str, FileStructures] = {}


def _file_store(folder: Path) -> FileStructures:
    key = os.path.realpath(folder)
    fs = _FILE_STORES.get(key)
    if fs is None:
        fs = _FILE_STORES[key] = FileStructures(folder)
    return fs


def structures_for(lp) -> StructureStore:
    """The structure store of LaunchPad ``lp``: files next to an embedded store, else MongoDB."""
    server = getattr(getattr(lp, "connection", None), "_store", None)
    filename = getattr(server, "_filename", None)
    if filename:
        return _file_store(structures_dir(os.path.abspath(filename)))
    cache = getattr(lp, "_nafill_structures", None)
    if cache is None:
        cache = MongoStructures(lp.db)
        with contextlib.suppress(AttributeError):
            lp._nafill_structures = cache
    return cache
