"""Benchmark: loading FER2013 (35,887 rows) from its Kaggle CSV, and from the binary cache.

Prints seconds for
  parse     fer_core's parser (Arrow, fast path) on the full fer2013.csv(.gz)
  cache     loading the same arrays back from the .npz cache
  reference the tutorials' way: pandas.read_csv, then numpy.fromstring on each row
and the ratios of the reference to each, measured in the same run on the same file.
Targets: parse < 5 s, cache < 0.5 s.

    FER_DATA_DIR=../shared/data python bench/bench_datasets.py [--repeat 3]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.data import dataset_path  # noqa: E402
from fer_core.data.fer2013 import load_fer2013, parse_fer2013  # noqa: E402


def reference_parse(path):
    """The tutorials' loader: pandas, then one numpy.fromstring per row."""
    import pandas as pd

    frame = pd.read_csv(path)
    images = np.stack([np.fromstring(p, dtype=np.uint8, sep=" ") for p in frame["pixels"]])
    return frame["emotion"].to_numpy(), images.reshape(-1, 48, 48), frame["Usage"].to_numpy()


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    args = parser.parse_args()
    path = dataset_path("fer2013")
    if path is None:
        sys.exit("error: fer2013 not found under FER_DATA_DIR")
    os.environ["FER_CACHE_DIR"] = tempfile.mkdtemp(prefix="fer-bench-cache-")
    parse_s, parsed = best_of(args.repeat, lambda: parse_fer2013(path))
    load_fer2013(path)  # writes the cache
    cache_s, cached = best_of(args.repeat, lambda: load_fer2013(path))
    ref_s, (labels, images, _) = best_of(1, lambda: reference_parse(path))
    assert np.array_equal(images, parsed["images"]) and np.array_equal(labels, parsed["labels"])
    assert np.array_equal(cached.images, parsed["images"])
    print(f"file: {path} ({len(labels)} rows)")
    print(f"{'parse (fer_core)':<22}{parse_s:8.2f} s   target < 5 s     reference/parse = {ref_s / parse_s:5.1f}x")
    print(f"{'cache load (npz)':<22}{cache_s:8.2f} s   target < 0.5 s   reference/cache = {ref_s / cache_s:5.0f}x")
    print(f"{'reference (pandas)':<22}{ref_s:8.2f} s")


if __name__ == "__main__":
    main()
