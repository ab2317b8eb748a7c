"""Errors that FER Studio reports to users as one clear line."""


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
