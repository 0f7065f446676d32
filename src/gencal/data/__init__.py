"""gencal.data: datasets, downloads/checksums/cache, long-tailed subsets, splits, augmentation.

``load_dataset(name, root=None, split="train", **kw) -> ImageDataset`` with names
``cifar10 cifar100 tiny_imagenet medmnist/<flag> fashion_mnist mnist digits image_folder
cifar10_jpeg``. See ``docs/data.md``.
"""

from gencal.data import cifar as _cifar  # noqa: F401  (registers loaders)
from gencal.data import digits as _digits  # noqa: F401
from gencal.data import image_folder as _image_folder  # noqa: F401
from gencal.data import medmnist as _medmnist  # noqa: F401
from gencal.data import mnist as _mnist  # noqa: F401
from gencal.data import tiny_imagenet as _tiny_imagenet  # noqa: F401
from gencal.data.augment import BatchAugment, normalize_, to_float_tensor, uint8_nchw_to_float
from gencal.data.cache import default_root
from gencal.data.dataset import ImageDataset, channel_stats
from gencal.data.download import download_url
from gencal.data.integrity import DataIntegrityError, DatasetNotFoundError, verify_file
from gencal.data.loader import InMemoryLoader, StreamingImageFolder, streaming_loader
from gencal.data.longtail import (
    balanced_subset,
    class_groups,
    long_tailed_counts,
    make_long_tailed,
)
from gencal.data.registry import list_datasets, load_dataset, register_dataset
from gencal.data.splits import stratified_split

__all__ = [
    "BatchAugment",
    "DataIntegrityError",
    "DatasetNotFoundError",
    "ImageDataset",
    "InMemoryLoader",
    "StreamingImageFolder",
    "balanced_subset",
    "channel_stats",
    "class_groups",
    "default_root",
    "download_url",
    "list_datasets",
    "load_dataset",
    "long_tailed_counts",
    "make_long_tailed",
    "normalize_",
    "register_dataset",
    "stratified_split",
    "streaming_loader",
    "to_float_tensor",
    "uint8_nchw_to_float",
    "verify_file",
]
