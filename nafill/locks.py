"""One writer at a time: an exclusive, non-blocking lock on a file (a run folder, a store).

POSIX record locks (``fcntl.lockf``), not ``flock``: a record lock belongs to the process that
took it, is *not* inherited by forked children (worker pools), and disappears when the process
dies, so a lock whose owner was killed is taken over at once and a refusal always names a live
process. The lock file holds the owner's PID and command for the message.

Within one process the same lock may be taken again (nested ``with``); it is released when the
outermost holder releases it (closing any descriptor of the file would drop a POSIX lock, so the
process keeps exactly one open per lock file).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from pathlib import Path

from nafill.errors import NafillInputError

_HELD: dict[str, list] = {}
"""Lock files held by this process: real path -> [file object, nesting count]."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    pid = text.split()[0] if text else ""
    if pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return "another process"
        except PermissionError:
            pass
        return f"process {text}"
    return "another process"


class ProcessLock:
    """Exclusive lock on ``path`` for this process; ``what`` names the resource in messages."""

    def __init__(self, path, what: str, advice: str) -> None:
        self.path = Path(path)
        self.what = what
        self.advice = advice
        self._key = None

    def acquire(self) -> ProcessLock:
        key = os.path.realpath(self.path)
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
            self._key = key
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise NafillInputError(f"cannot create the lock file {str(self.path)!r} for {self.what}: "
                                   f"{exc.strerror or exc}") from None
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise NafillInputError(f"{self.what} is in use by {_holder(self.path)}; {self.advice}") from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {' '.join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))}\n")
        fh.flush()
        _HELD[key] = [fh, 1]
        self._key = key
        return self

    def release(self) -> None:
        if self._key is None:
            return
        held = _HELD.get(self._key)
        self._key = None
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        fh = held[0]
        del _HELD[os.path.realpath(self.path)]
        _unlock(fh)

    def __enter__(self) -> ProcessLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _unlock(fh) -> None:
    """Clear the holder's PID from the lock file, release the lock and close the file."""
    with contextlib.suppress(OSError):
        fh.seek(0)
        fh.truncate()
        fh.flush()
    with contextlib.suppress(OSError):
        fcntl.lockf(fh.fileno(), fcntl.LOCK_UN)
    fh.close()


def held_by_me(path) -> bool:
    """True when this process holds the lock on ``path``."""
    return os.path.realpath(path) in _HELD


@contextlib.contextmanager
def lent(lock: ProcessLock):
    """Release this process's hold on ``lock`` for the duration, whatever its nesting depth (another
    process may take it meanwhile), then take it back at the same depth. Taking it back raises
    :class:`NafillInputError` (naming the holder) if another process still holds it."""
    key = os.path.realpath(lock.path)
    held = _HELD.pop(key, None)
    if held is None:
        yield
        return
    fh, depth = held
    _unlock(fh)
    try:
        yield
    finally:
        again = ProcessLock(lock.path, lock.what, lock.advice).acquire()
        _HELD[key][1] = depth
        again._key = None  # the depth restored above stands for every holder
