"""Atomic file writes: nothing a user saved is ever left half-written or lost.

``atomic_write(path, write)`` writes to a temporary file beside ``path`` whose name carries
the writing process's id (``.<name>.<pid>.<random>.tmp``), fsyncs it, gives it the mode a
plain ``open`` would (``0o666`` less the umask), renames it over ``path`` (atomic on POSIX)
and fsyncs the directory, so the new entry survives a crash. A writer killed midway leaves
only its temporary file; the next write to the same path removes those of processes that no
longer run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "check_output_dir", "stale_temporaries"]


def _umask() -> int:
    """The process's umask (read from /proc where it exists: setting it to read it back is
    not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files of writes to ``path`` whose process no longer runs."""
    path = Path(path)
    stale = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        parts = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")
        if len(parts) == 2 and parts[0].isdigit() and not _alive(int(parts[0])):
            stale.append(tmp)
    return stale


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it over ``path``
    (see the module docstring). On any error the temporary file is removed and ``path`` is
    left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for tmp in stale_temporaries(path):
        tmp.unlink(missing_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # whatever the writer did with the file's mode
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_output_dir(folder: str | os.PathLike, option: str) -> None:
    """Make sure ``folder`` is (or can become) a writable directory before any work starts;
    ValueError naming ``option`` (the argument that gave it) otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder} is a file; give a folder for the run's files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".snn-rl-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to {option} {folder}: {err.strerror or err}") from err
