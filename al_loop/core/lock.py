"""One process at a time per run directory (or app project): an exclusive lock file.

The lock is an OS file lock (``filelock``, flock on Unix), so it is released when the holder
exits, even by ``kill -9``; the holder writes its PID into the lock file so that a refused
process can name it.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from al_loop.core.errors import RunDirError

LOCK_FILE = "run.lock"


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def lock_holder_pid(directory: str | Path) -> int | None:
    """The PID written by the lock's current (or last) holder; None if unknown."""
    try:
        return int((Path(directory) / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


class DirectoryLock:
    """``with DirectoryLock(run_dir):`` holds ``run_dir/run.lock`` or fails at once with a
    one-line RunDirError naming the directory and the holder's PID (the directory is created)."""

    def __init__(self, directory: str | Path, what: str = "run directory"):
        self.directory = Path(directory)
        self.what = what
        self._lock = FileLock(self.directory / LOCK_FILE, timeout=0, on_acquired=_write_pid)

    def check_usable(self) -> None:
        """Fail now (before any work) if the path exists but is no directory."""
        if self.directory.exists() and not self.directory.is_dir():
            raise RunDirError(
                f"{self.directory}: not a directory; choose a folder for this {self.what}"
            )

    def acquire(self) -> DirectoryLock:
        self.check_usable()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            pid = lock_holder_pid(self.directory)
            holder = "another process" if pid is None else f"another process (pid {pid})"
            raise RunDirError(
                f"{self.directory}: this {self.what} is in use by {holder}; wait for it to "
                "finish or stop it"
            ) from None
        except OSError as err:
            raise RunDirError(
                f"{self.directory}: cannot lock this {self.what} ({err.strerror or err}); "
                "is it writable?"
            ) from None
        return self

    def release(self) -> None:
        self._lock.release()

    def probe(self) -> None:
        """Raise the error ``acquire`` would if another process holds the lock; keep nothing."""
        self.acquire()
        self.release()

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
