"""A cap on sandboxed SQL queries running at once, across sessions and processes: N lock files, one each.

`hold(folder, n)` takes the first free slot of `folder/0.lock … (n-1).lock` with a non-blocking `flock`,
or answers None at once when all n are held. The kernel releases a flock when the last descriptor of
its open file goes away, so a slot is never left held by a dead process, and nothing needs cleaning.

The console passes the slot's descriptor to its worker process (`pass_fds`): the lock then lives as long
as either of them, so a worker whose console was killed still counts until it ends. A slot's file also
records the private temporary folder of the query holding it; whoever takes the slot next removes that
folder if it is still there (its console died before it could), so no killed query's spill files stay.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PRIVATE_PREFIX = "thermoscope-sql-"  # the console's private temporary folders (tempfile.mkdtemp prefix)


@dataclass(frozen=True)
class Slot:
    index: int
    fd: int  # held open (and locked) while the query runs; give it to the worker so the lock outlives us

    def record(self, folder: Path) -> None:
        """Write down the query's private folder, for whoever takes this slot after a crash."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(folder).encode(), 0)


def _remove_left_behind(fd: int) -> None:
    """Remove the private folder the slot's last holder recorded, if it is still there (it died)."""
    left = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    path = Path(left) if left else None
    if path is not None and path.name.startswith(PRIVATE_PREFIX) and path.is_dir() and not path.is_symlink() \
            and path.stat().st_uid == os.getuid():
        shutil.rmtree(path, ignore_errors=True)


def slot_folder(preferred: Path) -> Path:
    """`preferred` (the home's sql-slots/, owner-only), or a per-user folder under the system temporary
    folder where the home cannot be written (a read-only shared home): the cap then counts this user's
    queries only."""
    for folder in (preferred, Path(tempfile.gettempdir()) / f"thermoscope-sql-slots-{os.getuid()}"):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise OSError(f"no folder to hold query slots in ({preferred} cannot be written)")


@contextmanager
def hold(folder: Path, n: int) -> Iterator[Slot | None]:
    """The first free of `n` slots in `folder` for the duration of the block, or None when all are held."""
    for index in range(n):
        fd = os.open(folder / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            _remove_left_behind(fd)
            yield Slot(index, fd)
        finally:
            # no LOCK_UN: that would release the worker's share of the lock too; closing our descriptor
            # leaves the lock held for as long as a worker that outlived us keeps its copy
            os.close(fd)
        return
    yield None
