import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from tnnlib.plotting.images import show_images  # noqa: E402


def test_grid_has_one_axes_per_slot_and_titles():
    images = np.random.default_rng(0).random((13, 8, 8))
    fig = show_images(images, labels=np.arange(13) % 10, n_cols=5)
    assert len(fig.axes) == 15                              # 3 rows of 5
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:3] == ["0", "1", "2"] and len(titles) == 13


def test_flattened_images_and_class_names():
    fig = show_images(np.zeros((2, 16)), labels=[1, 0], class_names=["zero", "one"])
    assert [ax.get_title() for ax in fig.axes] == ["one", "zero"]


@pytest.mark.parametrize("bad,match", [(np.zeros((2, 15)), "square"), (np.zeros((0, 4, 4)), "non-empty")])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        show_images(bad)


def test_label_count_must_match():
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        show_images(np.zeros((2, 4, 4)), labels=[0])
