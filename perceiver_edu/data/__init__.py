"""Dataset readers: IDX files (MNIST, Fashion-MNIST), spoken digits (FSDD), AV-MNIST pairs,
ModelNet10 point sets; local copies and checked downloads."""
from .av_mnist import AVMNIST, load_av_mnist
from .checksum import ChecksumError
from .fetch import DatasetNotFoundError, data_root, download
from .fsdd import AudioDataset, WAVError, load_fsdd
from .idx import IDXError, parse_idx, read_idx, write_idx
from .mnist import FASHION_MNIST, MNIST, ImageDataset, load_dataset, load_fashion_mnist, load_mnist
from .modelnet import ModelNetError, PointCloudDataset, SurfacePointDataset, load_modelnet10

__all__ = ["AVMNIST", "AudioDataset", "ChecksumError", "DatasetNotFoundError", "IDXError", "ImageDataset", "FASHION_MNIST",
           "MNIST", "ModelNetError", "PointCloudDataset", "SurfacePointDataset", "WAVError", "data_root", "download", "load_dataset",
           "load_av_mnist", "load_fashion_mnist", "load_fsdd", "load_mnist", "load_modelnet10", "parse_idx", "read_idx", "write_idx"]
