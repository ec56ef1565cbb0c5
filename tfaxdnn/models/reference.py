"""Trained reference models that ship with the package, each with a model card.

``pretrained("resnet20_cifar10")`` loads a float Keras model trained by ``examples/train_reference.py`` on the
train part of a seeded split of the training set (`tfaxdnn.data.reference_split`); the validation part is what
searches select on, and the test set was only ever reported. ``model_card(name)`` gives the recipe, the seeds, the
split and its hash, and the float and exact-8-bit accuracies on the validation, test and bundled-subset images.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
#: models the training script produces but this version does not ship (ResNet-18: about 45 MB; its card, 92.71 % on
#: the test images, is docs/models/resnet18_cifar10.json), and how to make them
NOT_SHIPPED = {
    "resnet18_cifar10": "python examples/train_reference.py train --arch resnet18 --mixed-precision --out DIR"}


def available() -> List[str]:
    """Names of the shipped reference models (``<architecture>_<dataset>``)."""
    if not os.path.isdir(WEIGHTS):
        return []
    return sorted(f[:-len(".keras")] for f in os.listdir(WEIGHTS) if f.endswith(".keras"))


def _path(name: str, ext: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"A pretrained model is named by a string. Received: {name!r}")
    path = os.path.join(WEIGHTS, name + ext)
    if os.path.isfile(path):
        return path
    if name in NOT_SHIPPED:
        raise FileNotFoundError(f"'{name}' does not ship with this version of tfaxdnn; train it with "
                                f"`{NOT_SHIPPED[name]}` and load DIR's .keras file.")
    raise ValueError(f"Unknown pretrained model {name!r}; available: {available()}.")


def model_card(name: str) -> Dict:
    """The model card of a shipped reference model (a dict, as written by ``train_reference.py card``)."""
    _path(name, ".keras")
    with open(_path(name, ".json")) as f:
        return json.load(f)


def pretrained(name: str):
    """The shipped float Keras model ``name`` (e.g. ``"resnet20_cifar10"``, ``"lenet5_mnist"``), uncompiled."""
    import keras
    return keras.models.load_model(_path(name, ".keras"), compile=False)


def card_split(name: str, path=None, seed=None):
    """The images of a shipped reference model's split, as its card names them: ``(card, source, (x_train,
    y_train), (x_test, y_test), train_idx, val_idx)`` with the dataset file's arrays (uint8, unprepared), the
    indices of its training part and of its validation part (`tfaxdnn.data.reference_split` with the card's size
    and seed, or ``seed``), checked against the card's split hash. ``path``: the dataset npz (default: a found copy,
    `tfaxdnn.data.find_dataset`). FileNotFoundError without one; ValueError when the split is not the card's."""
    from tfaxdnn.data import find_dataset, load_npz, reference_split

    card = model_card(name)
    src = find_dataset(card["dataset"], path)
    if src is None:
        raise FileNotFoundError(f"No {card['dataset']} npz found for {name!r}: pass its path.")
    (xtr, ytr), (xte, yte) = load_npz(src)      # the file's order: the split's indices refer to it
    split = card["split"]
    train, val, digest = reference_split(ytr, split["validation_images"], split["seed"] if seed is None else seed)
    if digest != split["hash"]:
        raise ValueError(f"{src} gives split {digest}, not the model card's {split['hash']} (another file, or "
                         f"another seed): these are not the images {name!r} never trained on.")
    return card, src, (xtr, ytr), (xte, yte), train, val
