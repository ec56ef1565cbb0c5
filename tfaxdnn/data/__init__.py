"""Datasets: the bundled real-MNIST subset, and loaders for full MNIST / CIFAR-10 npz files.

Never call ``keras.datasets.*.load_data()`` offline: it rejects (and deletes) files whose hash it cannot verify.
These loaders read the npz directly.
"""

from tfaxdnn.data.loaders import (BUNDLED_MNIST, find_dataset, load_cifar10, load_mnist, load_npz, prepare_images,
                                  preprocess_cifar10, preprocess_mnist)
from tfaxdnn.data.splits import REFERENCE_VALIDATION, reference_split, split_hash

__all__ = ["BUNDLED_MNIST", "find_dataset", "load_npz", "load_mnist", "load_cifar10", "preprocess_mnist",
           "preprocess_cifar10", "prepare_images", "REFERENCE_VALIDATION", "reference_split", "split_hash"]
