"""Data loaders on tiny synthetic files made here (the real data is never needed)."""

import gzip
import struct

import numpy as np
import pytest

from spikeforge.errors import UserError
from spikeforge.golden.datasets import (load_caltech, load_dataset, load_digits, load_mnist,
                                        read_idx, resize_images)


def write_idx(path, array, compress):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def make_mnist(folder, n=10, compress=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    suffix = ".gz" if compress else ""
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", images, compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_loader_reads_idx_and_splits(tmp_path, compress):
    images, labels = make_mnist(tmp_path, n=10, compress=compress)
    d = load_mnist(tmp_path, n_learn=6, n_test=4)
    np.testing.assert_array_equal(d.learn, images[:6])
    np.testing.assert_array_equal(d.train_labels, labels[:6])
    np.testing.assert_array_equal(d.test, images[6:])
    np.testing.assert_array_equal(d.test_labels, labels[6:])
    assert d.learn.dtype == np.float32


def test_mnist_default_split_is_first_8000_last_2000(tmp_path):
    images, labels = make_mnist(tmp_path, n=10_000)
    d = load_mnist(tmp_path)
    assert len(d.train) == 8000 and len(d.test) == 2000
    np.testing.assert_array_equal(d.test_labels, labels[8000:])


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + bytes(10))
    with pytest.raises(UserError, match="100 bytes"):
        read_idx(short)
    gz = tmp_path / "broken.gz"
    gz.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(UserError, match="gzip"):
        read_idx(gz)


def test_mnist_missing_dir_missing_files_and_label_mismatch(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(UserError, match="--data-dir"):
        load_mnist(None)
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 255, (5, 4, 4)), False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4), False)
    with pytest.raises(UserError, match="expected 5 labels"):
        load_mnist(tmp_path)


def make_caltech(root, n_per_class=2, size=(20, 30), fmt="JPEG"):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("LearningSet", "TrainingSet", "TestingSet"):
        for cls in ("Face", "Motor"):
            d = root / split / cls
            d.mkdir(parents=True)
            for k in range(n_per_class):
                arr = rng.integers(0, 256, size=size + (3,), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"image_{k:04d}.{fmt.lower()}", fmt)
    (root / "TestingSet" / "Face" / "notes.txt").write_text("not an image")


def test_caltech_loader_reads_three_sets(tmp_path):
    make_caltech(tmp_path, n_per_class=2)
    d = load_caltech(tmp_path, size=(12, 16))
    assert d.learn.shape == (4, 12, 16) and d.train.shape == (4, 12, 16)
    assert d.test.shape == (4, 12, 16)
    np.testing.assert_array_equal(d.train_labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(d.test_labels, [0, 0, 1, 1])
    assert 0 <= d.test.min() and d.test.max() <= 255
    assert d.classes == ("Face", "Motor")


def test_caltech_bad_layouts(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_caltech(tmp_path / "missing")
    make_caltech(tmp_path / "a", n_per_class=1)
    import shutil
    shutil.rmtree(tmp_path / "a" / "TestingSet")
    with pytest.raises(UserError, match="missing TestingSet"):
        load_caltech(tmp_path / "a")
    make_caltech(tmp_path / "b", n_per_class=1)
    shutil.rmtree(tmp_path / "b" / "TrainingSet" / "Motor")
    with pytest.raises(UserError, match="missing class folder"):
        load_caltech(tmp_path / "b")
    make_caltech(tmp_path / "c", n_per_class=1)
    (tmp_path / "c" / "LearningSet" / "Face" / "image_0000.jpeg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image"):
        load_caltech(tmp_path / "c")


def test_digits_loader_upscales_and_splits_stratified():
    d = load_digits(size=16, seed=3)
    assert d.train.shape[1:] == (16, 16) and d.test.shape[1:] == (16, 16)
    assert len(d.train) + len(d.test) == 1797
    assert 0.0 <= d.train.min() and d.train.max() <= 255.0
    counts = np.bincount(d.test_labels, minlength=10)
    assert counts.min() >= 40, "stratified split keeps every class in the test set"
    d2 = load_digits(size=16, seed=3)
    np.testing.assert_array_equal(d.test_labels, d2.test_labels)


def test_resize_images_keeps_corners_and_interpolates():
    img = np.array([[[0.0, 10.0], [20.0, 30.0]]])
    out = resize_images(img, (3, 3))
    np.testing.assert_allclose(out[0], [[0, 5, 10], [10, 15, 20], [20, 25, 30]])


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="unknown dataset 'cifar'.*digits, mnist, caltech"):
        load_dataset("cifar")


REAL_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (REAL_DATA / "mnist-t10k").is_dir(),
                    reason="the MNIST files in ../shared/data are not on this machine "
                           "(they are optional; the synthetic tests above cover the loader)")
def test_real_mnist_split_when_present():
    d = load_mnist(REAL_DATA / "mnist-t10k")
    assert d.train.shape == (8000, 28, 28) and d.test.shape == (2000, 28, 28)
    assert set(np.unique(d.test_labels)) == set(range(10))


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_DATA / "caltech-face-motorbike").is_dir(),
                    reason="the Caltech files in ../shared/data are not on this machine "
                           "(they are optional; the synthetic tests above cover the loader)")
def test_real_caltech_sets_when_present():
    d = load_caltech(REAL_DATA / "caltech-face-motorbike")
    assert (len(d.learn), len(d.train), len(d.test)) == (474, 400, 396)
    assert d.test.shape[1:] == (160, 250)
