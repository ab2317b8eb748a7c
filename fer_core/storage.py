"""Atomic file writes: a reader (or a crash) never sees half a file; and exclusive file locks."""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_bytes_atomic(path, data):
    """Writes bytes to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path, text):
    """Writes text (UTF-8) atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, obj):
    """Writes an object as indented JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv_atomic(path, frame):
    """Writes a pandas DataFrame as CSV atomically (no index column)."""
    write_text_atomic(path, frame.to_csv(index=False))


def save_model_atomic(model, path):
    """Saves a Keras model to a ``.keras`` file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path, default=None):
    """Reads a JSON file; returns ``default`` when it does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def file_sha256(path):
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LockHeldError(OSError):
    """The lock is held (by another process, or by another hold in this one).

    Attributes:
        path: the lock file.
        holder: the process id written into the lock file by its holder (None when unknown).
    """

    def __init__(self, path, holder):
        self.path, self.holder = Path(path), holder
        super().__init__(f"{path}: locked by {'process ' + str(holder) if holder else 'another process'}")


@contextlib.contextmanager
def exclusive_lock(path):
    """Holds an exclusive lock on a file (``fcntl.flock``) for the ``with`` block, or fails at once.

    The kernel releases the lock when the process ends, however it ends (SIGKILL included), so a
    lock left behind by a dead process never blocks. The holder's process id is written into the
    file, for messages. Each hold opens the file anew, so a second hold fails even in the process
    that holds the first. The file is created when missing and never deleted (deleting a lock file
    lets two processes lock two different files of the same name).

    Arguments:
        path: the lock file (its folder must exist).

    Raises:
        LockHeldError: another holder has the lock (it is never waited for).
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            raise LockHeldError(path, int(holder) if holder.isdecimal() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
