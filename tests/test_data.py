"""Dataset lookup: a path the user names is used or refused, never silently replaced by another copy."""

import numpy as np
import pytest

from tfaxdnn.data.loaders import find_dataset, load_cifar10


def test_a_named_dataset_path_that_does_not_exist_is_refused(tmp_path):
    missing = str(tmp_path / "cifar10.npz")
    with pytest.raises(FileNotFoundError, match="Dataset file not found"):
        find_dataset("cifar10", missing)
    with pytest.raises(FileNotFoundError, match="Dataset file not found"):
        load_cifar10(missing)


def test_a_named_dataset_path_is_used(tmp_path):
    path = str(tmp_path / "mine.npz")
    x = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.arange(4, dtype=np.uint8)
    np.savez(path, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    assert find_dataset("cifar10", path) == path
    (xtr, ytr), (xte, _), src = load_cifar10(path)
    assert src == path and xtr.shape == (4, 32, 32, 3) and sorted(ytr.tolist()) == [0, 1, 2, 3] and len(xte) == 2
