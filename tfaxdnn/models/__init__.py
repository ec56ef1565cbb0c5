"""Reference architectures: LeNet-5, ResNet-8/18 and MobileNet-V2 for CIFAR-10, and a plain training loop
(`architectures`)."""

from tfaxdnn.models.architectures import (MOBILENET_V2_CIFAR_BLOCKS, lenet5, mobilenet_v2_cifar, resnet, resnet8,
                                          resnet18, train_classifier)

__all__ = ["lenet5", "resnet", "resnet8", "resnet18", "mobilenet_v2_cifar", "MOBILENET_V2_CIFAR_BLOCKS",
           "train_classifier"]
