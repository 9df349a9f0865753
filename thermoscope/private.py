"""Who may read what Thermoscope writes: the owner only, unless a lab shares one home through a Unix group.

A login node is shared: every user on it can read any file whose mode lets "others" in. So a home holds
results, checkpoints and job folders that nobody else should read by default:

    default                       umask 077   folders 0700   files 0600   (the owner only)
    THERMOSCOPE_SHARE_GROUP=1     umask 027   folders 2750   files 0640   (the owner writes, the group reads)

Two layers, because either alone has a gap:
- the home's own folder gets the mode above (created under the narrowed umask, or tightened, with one line
  said, when an older Thermoscope or a plain `mkdir` left it open): nobody outside can even list it, whatever
  the files inside say;
- every process that works on a home (the CLI, the dashboard's server, each job: they all resolve the home
  through warehouse.paths.home) narrows its umask, so the files themselves are private too, and so are those
  of the processes it starts (local jobs inherit the umask; sbatch passes it to Slurm jobs as SLURM_UMASK,
  and each job narrows its own again when it resolves the home).
The umask is only ever narrowed, never widened: a stricter umask the user set stays.

In shared mode the home's folder is setgid (the 2 in 2750): every folder and file made below it belongs to
the home's group, whoever of the lab made it. Make the home once, in that group:
`mkdir -p "$THERMOSCOPE_HOME" && chgrp LAB "$THERMOSCOPE_HOME" && chmod 2750 "$THERMOSCOPE_HOME"`.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from thermoscope import env


@dataclass(frozen=True)
class Policy:
    shared: bool
    umask: int
    dir_mode: int  # the home's own folder
    file_mode: int  # files written with explicit modes (write_private)


OWNER_ONLY = Policy(shared=False, umask=0o077, dir_mode=0o700, file_mode=0o600)
GROUP_SHARED = Policy(shared=True, umask=0o027, dir_mode=0o2750, file_mode=0o640)

_lock = threading.Lock()
_checked: set[str] = set()  # roots already checked by this process


def policy() -> Policy:
    return GROUP_SHARED if env.SHARE_GROUP.get() else OWNER_ONLY


def narrow_umask(p: Policy | None = None) -> int:
    """Narrow this process's umask to the policy's (keeping any stricter bits); the umask now in force.

    os.umask can only be read by setting it, so the read-and-set pair is done under a lock (the
    dashboard's server resolves the home from several threads)."""
    p = p or policy()
    with _lock:
        old = os.umask(0o077)
        new = old | p.umask
        os.umask(new)
    return new


def secure_root(root: Path, p: Policy | None = None) -> None:
    """Tighten the home's folder to the policy's mode if it is ours and more open (one line says so).

    A home that does not exist yet is left to whoever creates it: the narrowed umask makes that folder owner-only
    (0700; 0750 shared). Never fails: a reader of someone else's shared home, or a folder we cannot change, is
    left as it is. Checked once per process and root."""
    p = p or policy()
    key = f"{root}|{p.dir_mode:o}"
    if key in _checked:
        return
    try:
        st = root.stat()
    except OSError:
        return
    _checked.add(key)
    if st.st_uid != os.geteuid() or not stat.S_ISDIR(st.st_mode):
        return
    was = stat.S_IMODE(st.st_mode)
    if was & ~p.dir_mode & 0o777 or (p.shared and not was & stat.S_ISGID):
        try:
            os.chmod(root, p.dir_mode)
        except OSError:
            return
        print(f"thermoscope: {root} was mode {was:04o}, now {p.dir_mode:04o} "
              f"({'the owner writes, its group reads' if p.shared else 'the owner only'}; "
              f"THERMOSCOPE_SHARE_GROUP=1 shares it with its Unix group, docs/cluster.md)", file=sys.stderr)


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to `path` atomically, created with `mode` from its first byte (never readable by others
    even for an instant): a new temporary file opened O_EXCL with the mode, then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits off the mode we asked for; never added any
        with os.fdopen(fd, "w") as f:
            fd = -1
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> Path:
    """A folder only the owner can use (0700), created if missing, tightened if ours and wider."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path
