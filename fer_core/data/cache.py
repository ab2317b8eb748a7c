"""A binary cache of parsed datasets: one uncompressed ``.npz`` per source.

Each source (file or folder) has one cache file, named after the resolved path;
inside it, a key made of the files' sizes and modification times and the loader
version decides whether it is still valid, so it is rebuilt when the source
changes. Arrays only: ``allow_pickle=False`` on load.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from fer_core.config import cache_dir

CACHE_VERSION = 3


def _files(path):
    path = Path(path)
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def fingerprint(sources):
    """Returns a string that changes when any file of the sources changes."""
    parts = [f"v{CACHE_VERSION}"]
    for source in sources:
        for f in _files(source):
            st = f.stat()
            parts.append(f"{f}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_path(prefix, sources):
    """Returns the cache file of a dataset read from these sources."""
    where = "\n".join(str(Path(s).resolve()) for s in sources)
    return cache_dir() / f"{prefix}-{hashlib.sha256(where.encode()).hexdigest()[:16]}.npz"


def cached(prefix, sources, build):
    """Returns the arrays built from the sources, from the cache when it is valid.

    Arguments:
        prefix: dataset kind, part of the cache file name.
        sources: the files or folders the arrays are made from.
        build: function of no argument returning a dict of NumPy arrays
            (no object arrays); called when the cache is missing or stale.

    Returns:
        dict of arrays.
    """
    path = cache_path(prefix, sources)
    key = fingerprint(sources)
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["_key"]) == key:
                return {k: data[k] for k in data.files if k != "_key"}
    except (OSError, ValueError, KeyError):
        pass  # missing, stale format or damaged: rebuild
    arrays = build()
    _save(path, key, arrays)
    return arrays


def _save(path, key, arrays):
    """Writes atomically (temporary file, then rename); a read-only cache folder is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, _key=np.array(key), **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
