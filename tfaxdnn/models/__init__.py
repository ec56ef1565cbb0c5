"""Reference architectures: LeNet-5, the CIFAR ResNets (8, 20, ... 6n+2; ResNet-18) and MobileNet-V2 for CIFAR-10,
a plain training loop (`architectures`), and the trained reference models that ship with the package
(`reference`: `pretrained`, `model_card`, `card_split`)."""

from tfaxdnn.models.architectures import (MOBILENET_V2_CIFAR_BLOCKS, lenet5, mobilenet_v2_cifar, resnet, resnet8,
                                          resnet18, resnet20, resnet_cifar, train_classifier)
from tfaxdnn.models.reference import available, card_split, model_card, pretrained

ARCHITECTURES = {"lenet5": lenet5, "resnet8": resnet8, "resnet20": resnet20, "resnet18": resnet18,
                 "mobilenet_v2_cifar": mobilenet_v2_cifar}

__all__ = ["lenet5", "resnet", "resnet8", "resnet20", "resnet_cifar", "resnet18", "mobilenet_v2_cifar",
           "MOBILENET_V2_CIFAR_BLOCKS", "train_classifier", "ARCHITECTURES", "pretrained", "model_card", "available"]
