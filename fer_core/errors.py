"""Errors that FER Studio reports to users as one clear line, and what keeps stderr for them."""

import contextlib
import os
import sys
import threading


class FerStudioError(Exception):
    """Base class of every error meant for the user (the CLI prints it, no traceback)."""


class DatasetError(FerStudioError):
    """A dataset is missing, unreadable or malformed.

    Arguments:
        message: what is wrong.
        path: the file (or folder) concerned, if any.
        row: the 0-based data row (header excluded), if the problem is in one row.
    """

    def __init__(self, message, path=None, row=None):
        self.path = None if path is None else str(path)
        self.row = row
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row} (line {row + 2})")
        super().__init__(": ".join(where + [message]))


class ImageError(FerStudioError):
    """An image cannot be decoded or is not acceptable as input."""


class ModelError(FerStudioError):
    """A model file is missing, unreadable or of the wrong kind."""


class RunError(FerStudioError):
    """A run folder cannot be started or resumed as asked."""


def printable(text):
    """``text`` with each character that is not printable (control characters such as ESC or a line
    break, invisible format characters) written as its escape (``\\x1b``, ``\\n``, ``\\u202e``), so that
    what a file or a name holds is echoed on one line and cannot recolour or rewrite a terminal.

    Arguments:
        text: any string (or object, turned into one).

    Returns:
        str.
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def file_problem(path, missing="no such file"):
    """Why ``path`` cannot be read as a regular file, in a few words; None when it can be.

    Arguments:
        path: a path given by the user.
        missing: what to say when nothing is there.

    Returns:
        ``missing``, "a symlink loop", "a broken symbolic link", "a folder, not a file",
        "not a regular file (a character device)" (also block device, named pipe, socket),
        "cannot be read (permission denied)", ...; or None for a regular file.
    """
    import errno
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        if error.errno == errno.ENOENT:
            return "a broken symbolic link" if os.path.islink(path) else missing
        if error.errno == errno.ENOTDIR:
            return f"{missing} (a part of the path is not a folder)"
        return f"cannot be read ({(error.strerror or str(error)).lower()})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    return f"not a regular file ({kind})"


# One redirection of descriptor 2 at a time in this process (the dashboard loads models on several threads).
_stderr_redirection = threading.RLock()


@contextlib.contextmanager
def filtered_native_stderr(drop):
    """What is written to file descriptor 2 (stderr) in the ``with`` block, by Python or by native code
    (TensorFlow's and LiteRT's C++ logging), held back and written out at its end without the lines
    that ``drop`` matches.

    Native libraries write their log lines straight to descriptor 2, past ``sys.stderr``: this keeps
    their noise out of what the user reads and keeps their real errors. Descriptor 2 is restored on
    leaving, exception or not. Where it cannot be redirected (no descriptor 2), nothing is filtered.
    One thread at a time redirects (others wait); what other threads write meanwhile is kept too.

    Arguments:
        drop: a compiled bytes regular expression; a line (without its end) that it ``match``es is left out.
    """
    import tempfile

    with _stderr_redirection:
        if sys.stderr is not None:
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:
            saved = None
        if saved is None:
            yield
            return
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                if sys.stderr is not None:
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                kept = b"".join(line for line in held.read().splitlines(keepends=True)
                                if not drop.match(line.rstrip(b"\r\n")))
                while kept:
                    kept = kept[os.write(2, kept):]


def writable_file_problem(path):
    """Why a file cannot be written at ``path``, in a few words; None when a file can be made there.

    Tries a temporary file in the same folder (``os.access`` says yes to root even where nothing
    can be created, as under /proc).
    """
    import tempfile
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        return "a folder is there, not a file"
    folder = path.parent
    if not folder.is_dir():
        return f"{file_problem(folder, missing='no such folder') or 'not a folder'}: {folder}"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as error:
        return f"cannot write in {folder} ({(error.strerror or str(error)).lower()})"
    return None
