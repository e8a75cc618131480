"""CIFAR-10 on disk: the real `cifar-10-batches-py` format, written from any images.

No machine here can download CIFAR-10, so the grader writes a small *generated* data set in
exactly the on-disk format of the real one and students load it with the real loader,
`torchvision.datasets.CIFAR10`. When real CIFAR-10 is available (`--data-root`), its images are
read with that same loader (torchvision verifies the original md5s) and re-written in the same
format for the student's kernel.

The format (what `torchvision` and the CIFAR web page's `unpickle` read): `data_batch_1..5`
and `test_batch` are pickled dicts with `data` (uint8, (N, 3072): the red, green and blue
32x32 planes of each image, row-major), `labels` (list of int), `batch_label` and `filenames`;
`batches.meta` holds `label_names`, `num_cases_per_batch` and `num_vis`. The originals were
written by Python 2, so their keys are byte strings: `pickle.load(f, encoding="bytes")` gives
`b"data"`, `encoding="latin1"` (torchvision) gives `"data"`. `_Py2Pickler` writes keys the same
way, so both readers work on the files written here.

Integrity: `torchvision.datasets.CIFAR10.__init__` always calls `_check_integrity()`, which
compares each file's md5 with the originals' (and `_load_meta` checks the meta file's), so a
generated file can never pass it. `open_cifar10` uses a subclass that changes nothing but that
md5 table: the grader computes the md5s of the files it wrote and hands them over, so the real
`__init__`, integrity check, unpickling and `__getitem__` all run, and a corrupted or swapped file
still fails loudly. torchvision itself is never patched.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

BASE_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
COLOUR_SPREAD = 0.3  # distance of the class colours from grey
COLOUR_JITTER = 0.05  # per-image colour shift (std)
TEXTURE_AMPLITUDE = (0.1, 0.25)  # per-image grating amplitude range
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")



class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    """Pickles `str` and `bytes` as Python 2 wrote its `str` (SHORT_BINSTRING/BINSTRING), as in the real files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)  # type: ignore[attr-defined]
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]

    # typeshed does not describe the pure-Python pickler (write, memoize, dispatch) as it is.
    dispatch[str] = save_py2_str  # type: ignore[assignment]
    dispatch[bytes] = save_py2_str  # type: ignore[assignment]  # numpy's raw array bytes: a Python 2 str too


def _dump(obj: object, path: Path) -> str:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.md5(data).hexdigest()


def write_cifar10(root: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  label_names: tuple[str, ...] = LABEL_NAMES) -> dict[str, str]:
    """Write `root/cifar-10-batches-py/`; return the md5 of every file written, by file name.

    `train` and `test` are (images uint8 (N, 3, 32, 32), labels (N,)); the training images are
    split over the five `data_batch_*` files in order, as in the original.
    """
    folder = Path(root) / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    checksums: dict[str, str] = {}
    images, labels = train
    parts = np.array_split(np.arange(len(labels)), len(TRAIN_FILES))
    batches = [(name, f"training batch {i} of {len(TRAIN_FILES)}", images[idx], labels[idx])
               for i, (name, idx) in enumerate(zip(TRAIN_FILES, parts), start=1)]
    batches.append((TEST_FILE, "testing batch 1 of 1", test[0], test[1]))
    for name, batch_label, x, y in batches:
        x = np.ascontiguousarray(x, dtype=np.uint8)
        if x.ndim != 4 or x.shape[1:] != (3, 32, 32):
            raise ValueError(f"{name}: images must have shape (N, 3, 32, 32), got {x.shape}")
        entry = {
            "batch_label": batch_label,
            "labels": [int(v) for v in y],
            "data": x.reshape(len(x), 3 * 32 * 32),
            "filenames": [f"{label_names[int(v)]}_s_{i:06d}.png" for i, v in enumerate(y)],
        }
        checksums[name] = _dump(entry, folder / name)
    per_batch = len(parts[0]) if len(parts) else 0
    meta = {"num_cases_per_batch": per_batch, "label_names": list(label_names), "num_vis": 3 * 32 * 32}
    checksums[META_FILE] = _dump(meta, folder / META_FILE)
    return checksums


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (images uint8 (N, 3, 32, 32), labels int64); only for files the grader trusts."""
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    return entry["data"].reshape(-1, 3, 32, 32), np.asarray(entry["labels"], dtype=np.int64)


# ---------------------------------------------------------------- the generated data set

def _class_looks(num_classes: int = 10) -> list[dict]:
    """Each class: a mean colour and a grating texture (orientation, frequency).

    The colours sit on a ring of hues (neighbours close, so per-image jitter and pixel noise blur
    them a little); the grating's orientation and frequency are a second, spatial cue.
    """
    looks = []
    for k in range(num_classes):
        hue = 2 * np.pi * k / num_classes
        colour = 0.5 + COLOUR_SPREAD * np.array([np.cos(hue), np.cos(hue - 2 * np.pi / 3), np.cos(hue + 2 * np.pi / 3)])
        looks.append({"colour": colour, "theta": np.pi * ((3 * k) % num_classes) / num_classes, "freq": 2.0 + (k % 3)})
    return looks


def synthesize(n: int, seed: int, noise: float = 0.15, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """`n` learnable 32x32 colour images: class colour and texture, per-image jitter, pixel noise.

    Deterministic in (n, seed, noise). Labels are balanced and shuffled.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    looks = _class_looks(num_classes)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 32.0
    colour = np.stack([looks[k]["colour"] for k in labels]).astype(np.float32)
    colour += rng.normal(0, COLOUR_JITTER, size=colour.shape).astype(np.float32)
    theta = np.array([looks[k]["theta"] for k in labels], dtype=np.float32) + rng.normal(0, 0.15, n).astype(np.float32)
    freq = np.array([looks[k]["freq"] for k in labels], dtype=np.float32)
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    amp = rng.uniform(*TEXTURE_AMPLITUDE, n).astype(np.float32)
    proj = np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy
    texture = amp[:, None, None] * np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None])
    images = colour[:, :, None, None] + texture[:, None, :, :]
    images += rng.normal(0, noise, size=images.shape).astype(np.float32)
    return (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8), labels


def write_generated(root: Path | str, seed: int, n_train: int, n_test: int, noise: float = 0.15) -> dict[str, str]:
    """A generated data set in `root/cifar-10-batches-py`; returns the md5 table for `open_cifar10`."""
    train = synthesize(n_train, seed, noise)
    test = synthesize(n_test, seed + 1, noise)
    return write_cifar10(Path(root), train, test)


# ---------------------------------------------------------------- loading (also shipped into the student's kernel)

def open_cifar10(root, train, checksums=None, transform=None):
    """`torchvision.datasets.CIFAR10(root, train, download=False, transform)`.

    With `checksums` (file name -> md5, as `write_cifar10` returns) the files are the grader's,
    not the originals: a subclass swaps in that md5 table and changes nothing else. Without it,
    the stock class checks the original md5s. Self-contained: the grader ships its source to the
    student's kernel.
    """
    from torchvision.datasets import CIFAR10

    if checksums is None:
        return CIFAR10(root, train=train, download=False, transform=transform)

    class GradedCIFAR10(CIFAR10):
        """CIFAR-10's loader with the md5s of the files the grader wrote."""

        train_list = [[name, checksums[name]] for name, _ in CIFAR10.train_list]
        test_list = [[name, checksums[name]] for name, _ in CIFAR10.test_list]
        meta = dict(CIFAR10.meta, md5=checksums[CIFAR10.meta["filename"]])

    return GradedCIFAR10(root, train=train, download=False, transform=transform)


def load_arrays(root: Path, train: bool, checksums: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split through the real loader, as (images uint8 (N, 3, 32, 32), labels int64)."""
    data = open_cifar10(str(root), train, checksums)
    return np.ascontiguousarray(data.data.transpose(0, 3, 1, 2)), np.asarray(data.targets, dtype=np.int64)


def has_cifar10(root: Path | None) -> bool:
    return root is not None and (Path(root) / BASE_FOLDER).is_dir()
