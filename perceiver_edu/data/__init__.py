"""Dataset readers: IDX files (MNIST, Fashion-MNIST), local mirrors and checked downloads."""
from .fetch import DatasetNotFoundError, data_root, download
from .idx import IDXError, parse_idx, read_idx, write_idx
from .mnist import (FASHION_MNIST, MNIST, ImageDataset, load_dataset, load_fashion_mnist, load_mnist)

__all__ = ["DatasetNotFoundError", "IDXError", "ImageDataset", "FASHION_MNIST", "MNIST", "data_root", "download",
           "load_dataset", "load_fashion_mnist", "load_mnist", "parse_idx", "read_idx", "write_idx"]
