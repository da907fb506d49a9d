"""MNIST and Fashion-MNIST: 28x28 grey images, 10 classes, 60,000 train + 10,000 test.

Where the files are looked for, in order:

* Fashion-MNIST: ``$PERCEIVER_EDU_FASHION_MNIST_DIR``, ``/usr/share/datasets/fashion-mnist``
  (Debian package ``dataset-fashion-mnist``), ``<data>/fashion-mnist``, then downloaded.
* MNIST: ``$PERCEIVER_EDU_MNIST_DIR`` (a local copy of the four IDX files),
  ``<data>/mnist``, then downloaded.

``<data>`` is :func:`~perceiver_edu.data.fetch.data_root`.  Every file is checked against the
sha256 of its official (decompressed) content.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .fetch import DatasetNotFoundError, data_root, download, find_file, local_copy
from .idx import read_idx


@dataclass(frozen=True)
class IDXDatasetSpec:
    name: str
    env_var: str
    system_dirs: tuple
    subdir: str
    urls: tuple  # base URLs, tried in order
    sha256: dict  # file stem -> sha256 of the decompressed content
    classes: tuple
    how_to_install: str


FASHION_MNIST = IDXDatasetSpec(
    name="Fashion-MNIST",
    env_var="PERCEIVER_EDU_FASHION_MNIST_DIR",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    subdir="fashion-mnist",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    sha256={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    how_to_install="install the Debian package: sudo apt-get install -y dataset-fashion-mnist",
)

MNIST = IDXDatasetSpec(
    name="MNIST",
    env_var="PERCEIVER_EDU_MNIST_DIR",
    system_dirs=(),
    subdir="mnist",
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    classes=tuple(str(i) for i in range(10)),
    how_to_install="download them from an MNIST mirror when you have internet, or point "
                   "PERCEIVER_EDU_MNIST_DIR at a directory holding a local copy of the four files",
)


def locate(spec: IDXDatasetSpec, stem: str, root: Path | None = None) -> Path:
    """Path of one of the dataset's files (``stem`` without ``.gz``), downloading it if needed."""
    root = Path(root) if root is not None else data_root()
    local = root / spec.subdir
    dirs = [local_copy(spec.env_var), *spec.system_dirs, local]
    found = find_file([stem + ".gz", stem], dirs)
    if found is not None:
        return found
    errors = []
    for base in spec.urls:
        try:
            return download(base + stem + ".gz", local / (stem + ".gz"), spec.sha256[stem])
        except OSError as err:  # URLError, timeouts, checksum mismatch, offline
            errors.append(f"{base}: {err}")
    searched = ", ".join(str(d) for d in dirs if d)
    raise DatasetNotFoundError(
        f"{spec.name} file {stem}.gz was not found (looked in: {searched}) and could not be downloaded "
        f"({'; '.join(errors)}).\nTo get it: {spec.how_to_install}; or copy the four files "
        f"{', '.join(s + '.gz' for s in spec.sha256)} into {local}; or set {spec.env_var} to a directory "
        f"that holds them."
    )


def load_idx_split(spec: IDXDatasetSpec, split: str, root: Path | None = None):
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` tensors for ``split`` 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(locate(spec, f"{prefix}-images-idx3-ubyte", root), spec.sha256[f"{prefix}-images-idx3-ubyte"])
    labels = read_idx(locate(spec, f"{prefix}-labels-idx1-ubyte", root), spec.sha256[f"{prefix}-labels-idx1-ubyte"])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{spec.name} {split}: images {images.shape} and labels {labels.shape} do not match")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype("int64"))


class ImageDataset(Dataset):
    """Grey images as float tensors ``(1, 28, 28)`` in [0, 1] with integer labels.

    ``images`` (N, 1, H, W) float32 and ``labels`` (N,) int64 are kept in memory whole.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes, name: str = ""):
        if images.dim() == 3:
            images = images.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        self.images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        self.labels = labels.long()
        self.classes = tuple(classes)
        self.name = name

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    def subset(self, n: int, seed: int = 0) -> "ImageDataset":
        """A random class-mixed subset of ``n`` examples (fixed by ``seed``)."""
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return ImageDataset(self.images[idx], self.labels[idx], self.classes, self.name)

    def __repr__(self) -> str:
        return f"ImageDataset({self.name}, n={len(self)}, image shape={tuple(self.images.shape[1:])})"


def load_fashion_mnist(split: str = "train", root: Path | None = None) -> ImageDataset:
    """Fashion-MNIST ``split`` ('train' 60,000 or 'test' 10,000) as an :class:`ImageDataset`."""
    images, labels = load_idx_split(FASHION_MNIST, split, root)
    return ImageDataset(images, labels, FASHION_MNIST.classes, f"Fashion-MNIST {split}")


def load_mnist(split: str = "train", root: Path | None = None) -> ImageDataset:
    """MNIST ``split`` ('train' 60,000 or 'test' 10,000) as an :class:`ImageDataset`."""
    images, labels = load_idx_split(MNIST, split, root)
    return ImageDataset(images, labels, MNIST.classes, f"MNIST {split}")


def load_dataset(name: str, split: str = "train", root: Path | None = None) -> ImageDataset:
    """``name`` is 'fashion-mnist' or 'mnist'."""
    loaders = {"fashion-mnist": load_fashion_mnist, "mnist": load_mnist}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(loaders)}")
    return loaders[name](split, root)
