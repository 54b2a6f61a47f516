"""The embedded LaunchPad's file: read it strictly, write it durably, keep the last good state.

FireWorks' embedded mode (mongomock) keeps the whole database in memory and, left alone, rewrites
the file in place when the process exits: an interrupted write leaves 0 bytes or half a JSON
document, which mongomock then reads as garbage or, worse, an empty file is taken as an empty
store. nafill replaces both ends:

* :func:`write_store`: the new content goes to a temporary file in the same folder, is fsynced,
  the previous file is hard-linked to ``<store>.bak`` (the last good state), then the temporary
  file is renamed over the store and the folder fsynced. A reader (another command, ``lpad``)
  sees the old or the new store, never half of one; a power cut loses at most that write.
* :func:`read_store`: a missing store is a new one (``{}``) unless its backup exists; a 0-byte,
  truncated or garbled file is refused with its path and the recovery command
  (:class:`DamagedStoreError`, exit status 2 on the command line).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from pathlib import Path

import bson.json_util

from nafill.errors import NafillInputError


class DamagedStoreError(NafillInputError):
    """The embedded store file cannot be read; the message names the file and the way out."""


def backup_path(store) -> Path:
    return Path(str(store) + ".bak")


def _damaged(store: Path, why: str) -> DamagedStoreError:
    bak = backup_path(store)
    q = shlex.quote
    if bak.is_file() and bak.stat().st_size > 0:
        way = f"restore the last good state with: cp {q(str(bak))} {q(str(store))}"
    else:
        way = f"move it away to start an empty store: mv {q(str(store))} {q(str(store) + '.damaged')}"
    return DamagedStoreError(f"the embedded LaunchPad store {str(store)!r} is damaged ({why}); {way}")


def parse_store_text(store: Path, text: str) -> dict:
    if not text.strip():
        raise _damaged(store, "0 bytes" if not text else "blank")
    try:
        data = bson.json_util.loads(text)
    except (ValueError, TypeError) as exc:
        raise _damaged(store, f"truncated or garbled JSON: {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise _damaged(store, "not a store document")
    return data


def read_store(store) -> dict:
    """The store's databases as a dict (``{}`` for a new store); refuses a damaged file."""
    store = Path(store)
    try:
        text = store.read_text(encoding="utf-8")
    except FileNotFoundError:
        if backup_path(store).is_file():
            raise _damaged(store, "missing, but its backup exists") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(store, f"unreadable: {exc}") from None
    return parse_store_text(store, text)


def check_store(store) -> None:
    """Refuse a damaged store file before anything is submitted or run (cheap for a new store)."""
    read_store(store)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _bson_default(obj):
    return bson.json_util.default(obj, bson.json_util.DEFAULT_JSON_OPTIONS)


def dumps_store(data: dict) -> str:
    """The store as text, exactly as ``bson.json_util.dumps`` writes it (what mongomock and plain
    ``lpad`` read), with the standard library's C encoder doing the work: only the few BSON
    values (ObjectId, datetime) go through ``bson``; a store holding NaN or infinity falls back
    to ``bson`` itself (which writes them as ``$numberDouble``)."""
    try:
        return json.dumps(data, default=_bson_default, allow_nan=False)
    except ValueError:
        return bson.json_util.dumps(data)


def write_store(store, data: dict) -> None:
    """Write the store durably and atomically, keeping the previous file as ``<store>.bak``."""
    store = Path(store)
    text = dumps_store(data)
    folder = store.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{store.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if store.is_file() and store.stat().st_size > 0:
            bak_tmp = folder / f".{store.name}.{os.getpid()}.bak.tmp"
            with contextlib.suppress(FileNotFoundError):
                bak_tmp.unlink()
            try:
                os.link(store, bak_tmp)
            except OSError:  # no hard links here: copy (still atomic by the rename below)
                bak_tmp.write_bytes(store.read_bytes())
            os.replace(bak_tmp, backup_path(store))
        os.replace(tmp, store)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)
