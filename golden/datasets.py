"""Data sets of the network experiments: digits (bundled), MNIST IDX, Caltech face/motorbike.

Every loader returns a :class:`Dataset` with three greyscale image sets in [0, 255]:
``learn`` (unsupervised STDP), ``train`` (readout training) and ``test`` (evaluation),
with integer labels for ``train`` and ``test``.  Bad input (missing folder, wrong file
format, unknown data set) raises :class:`spikeforge.errors.UserError`.

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, ships inside the wheel),
  upscaled bilinearly to ``size`` x ``size``; a stratified split from the seed: 75 % for
  learning + readout training, 25 % for test.
* ``mnist``: the IDX files ``t10k-images-idx3-ubyte[.gz]`` and
  ``t10k-labels-idx1-ubyte[.gz]`` (or ``train-...``) in ``--data-dir``; the first 8,000
  images for learning and readout training, the last 2,000 for test (the 60k training
  set is not assumed to be present).
* ``caltech``: ``LearningSet``, ``TrainingSet``, ``TestingSet`` folders with one
  sub-folder per class (``Face``, ``Motor``) of JPEG/PNG images, converted to greyscale
  and resized to ``size`` = (height, width).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikeforge.errors import UserError

__all__ = ["Dataset", "DATASETS", "load_dataset", "load_digits", "load_mnist", "load_caltech",
           "read_idx", "resize_images"]

DATASETS = ("digits", "mnist", "caltech")


@dataclass
class Dataset:
    """Images ``[N, H, W]`` float32 in [0, 255]; labels int64."""

    name: str
    learn: np.ndarray
    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    classes: tuple = ()
    description: str = ""

    def summary(self) -> dict:
        return {"name": self.name, "learn": int(len(self.learn)), "train": int(len(self.train)),
                "test": int(len(self.test)), "image_shape": list(self.train.shape[1:]),
                "classes": list(self.classes), "description": self.description}


def resize_images(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``[N, h, w]`` to ``[N, H, W]`` (align corners), vectorised."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    H, W = shape
    if (h, w) == (H, W):
        return images.copy()
    ys = np.linspace(0, h - 1, H)
    xs = np.linspace(0, w - 1, W)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    wy = (ys - y0)[None, :, None].astype(np.float32)
    wx = (xs - x0)[None, None, :].astype(np.float32)
    top = images[:, y0][:, :, x0] * (1 - wx) + images[:, y0][:, :, x1] * wx
    bot = images[:, y1][:, :, x0] * (1 - wx) + images[:, y1][:, :, x1] * wx
    return (top * (1 - wy) + bot * wy).astype(np.float32)


# ---------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------

def load_digits(size: int = 28, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled digits, upscaled to ``size`` x ``size``."""
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    d = _sk_digits()
    images = resize_images(d.images.astype(np.float32) * (255.0 / 16.0), (size, size))
    labels = d.target.astype(np.int64)
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                           random_state=seed, stratify=labels)
    return Dataset("digits", learn=images[idx_train], train=images[idx_train],
                   train_labels=labels[idx_train], test=images[idx_test],
                   test_labels=labels[idx_test], classes=tuple(range(10)),
                   description=f"sklearn digits upscaled 8x8 -> {size}x{size}; stratified "
                               f"split seed {seed}: {len(idx_train)} learn/readout, "
                               f"{len(idx_test)} test")


# ---------------------------------------------------------------------------------------
# MNIST (IDX)
# ---------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed); raise UserError if it is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UserError(f"{str(path)!r} is not a valid gzip file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise UserError(f"{str(path)!r} is not an IDX file (bad magic number "
                        f"{raw[:4].hex() or 'empty'}; expected 0000 08 0N)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{str(path)!r}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims))
    if len(raw) - header != count * dtype.itemsize:
        raise UserError(f"{str(path)!r}: IDX header says {dims} ({count * dtype.itemsize} bytes) "
                        f"but the file holds {len(raw) - header} data bytes")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


def _find(data_dir: Path, stems: list[str]) -> Path:
    for stem in stems:
        for name in (stem + ".gz", stem):
            if (data_dir / name).is_file():
                return data_dir / name
    raise UserError(f"no MNIST file {stems[0]}[.gz] in {str(data_dir)!r} "
                    f"(looked for: {', '.join(s + '[.gz]' for s in stems)})")


def load_mnist(data_dir: str | Path, n_learn: int = 8000, n_test: int = 2000) -> Dataset:
    """MNIST from IDX files in ``data_dir``: first ``n_learn`` images for learning and
    readout training, last ``n_test`` for test."""
    data_dir = _existing_dir(data_dir, "mnist")
    img_path = _find(data_dir, ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte",
                                "train-images-idx3-ubyte"])
    lab_path = _find(data_dir, [img_path.name.replace(".gz", "").replace("images", "labels")
                                .replace("idx3", "idx1")])
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3:
        raise UserError(f"{str(img_path)!r}: expected 3-D image data, got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise UserError(f"{str(lab_path)!r}: expected {len(images)} labels, got shape {labels.shape}")
    n = len(images)
    if n < 2:
        raise UserError(f"{str(img_path)!r}: need at least 2 images, found {n}")
    if n < n_learn + n_test:  # small files (tests): last fifth for test, the rest to learn
        n_test = max(1, n // 5)
        n_learn = n - n_test
    images = images.astype(np.float32)
    labels = labels.astype(np.int64)
    return Dataset("mnist", learn=images[:n_learn], train=images[:n_learn],
                   train_labels=labels[:n_learn], test=images[n - n_test:],
                   test_labels=labels[n - n_test:], classes=tuple(range(10)),
                   description=f"MNIST {img_path.name}: first {n_learn} images for learning and "
                               f"readout training, last {n_test} for test")


# ---------------------------------------------------------------------------------------
# Caltech face/motorbike
# ---------------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff")


def _existing_dir(data_dir, dataset: str) -> Path:
    if data_dir is None:
        raise UserError(f"--dataset {dataset} needs --data-dir (the folder with its files)")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"data directory {str(data_dir)!r} does not exist or is not a folder")
    return data_dir


def _read_grey(path: Path, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L").resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read image {str(path)!r}: {exc}") from None


def _read_set(folder: Path, classes: tuple[str, ...], size) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, cls in enumerate(classes):
        sub = folder / cls
        if not sub.is_dir():
            raise UserError(f"missing class folder {str(sub)!r} (expected {folder.name}/"
                            f"{{{','.join(classes)}}})")
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"class folder {str(sub)!r} holds no images "
                            f"({', '.join(_IMAGE_SUFFIXES)})")
        for p in files:
            images.append(_read_grey(p, size))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def load_caltech(data_dir: str | Path, size: tuple[int, int] = (160, 250),
                 classes: tuple[str, ...] = ("Face", "Motor")) -> Dataset:
    """Caltech face/motorbike folders: LearningSet (STDP), TrainingSet (readout),
    TestingSet (evaluation), each with one sub-folder per class."""
    data_dir = _existing_dir(data_dir, "caltech")
    sets = {}
    for name in ("LearningSet", "TrainingSet", "TestingSet"):
        folder = data_dir / name
        if not folder.is_dir():
            raise UserError(f"{str(data_dir)!r} is not a Caltech face/motorbike folder: missing "
                            f"{name}/ (expected LearningSet/, TrainingSet/, TestingSet/)")
        sets[name] = _read_set(folder, classes, size)
    learn, _ = sets["LearningSet"]
    train, train_labels = sets["TrainingSet"]
    test, test_labels = sets["TestingSet"]
    return Dataset("caltech", learn=learn, train=train, train_labels=train_labels, test=test,
                   test_labels=test_labels, classes=classes,
                   description=f"Caltech 101 {'/'.join(classes)} resized to {size[0]}x{size[1]}: "
                               f"{len(learn)} LearningSet, {len(train)} TrainingSet, "
                               f"{len(test)} TestingSet")


def load_dataset(name: str, data_dir=None, seed: int = 0, **kwargs) -> Dataset:
    """Load a data set by name (``digits``, ``mnist`` or ``caltech``)."""
    if name == "digits":
        return load_digits(seed=seed, **kwargs)
    if name == "mnist":
        return load_mnist(data_dir, **kwargs)
    if name == "caltech":
        return load_caltech(data_dir, **kwargs)
    raise UserError(f"unknown dataset {name!r}: allowed {', '.join(DATASETS)}")
