"""The shipped reference models (`tfaxdnn.models.pretrained()`): their weights reproduce their model cards."""

import numpy as np
import pytest

from tfaxdnn.models import available, model_card, pretrained
from tfaxdnn.models.reference import NOT_SHIPPED

EXPECTED = {"lenet5_mnist", "resnet8_cifar10", "resnet20_cifar10", "mobilenet_v2_cifar_cifar10"}


def test_the_reference_models_ship():
    assert EXPECTED <= set(available())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_weights_match_their_model_card(name):
    """Float and exact-8-bit accuracy on the bundled subset as the card records it (measured by
    ``train_reference.py card``); a tolerance of one image for float-summation order across CPUs."""
    import tfaxdnn
    from tfaxdnn import evaluate
    from tfaxdnn.data import BUNDLED_MNIST, load_npz, prepare_images
    from tfaxdnn.data.loaders import BUNDLED_CIFAR10

    card = model_card(name)
    model = pretrained(name)
    (xb, yb) = load_npz(BUNDLED_MNIST if card["dataset"] == "mnist" else BUNDLED_CIFAR10)[1]
    x = prepare_images(xb, model.input_shape)
    recorded = card["accuracy"]["bundled_test"]
    assert recorded["images"] == len(yb)
    tol = 1.0 / len(yb) + 1e-9
    assert evaluate(model, x, yb).accuracy == pytest.approx(recorded["float"], abs=tol)
    # the card's exact-8-bit model: activations calibrated on 500 validation images, which are not bundled; the
    # bundled training images stand in here, so the 8-bit figure gets a looser bound
    calib = prepare_images(load_npz(BUNDLED_MNIST if card["dataset"] == "mnist" else BUNDLED_CIFAR10)[0][0][:500],
                           model.input_shape)
    exact = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier=tfaxdnn.multipliers.EXACT_SIGNED),
                                calibration_data=calib)
    assert evaluate(exact, x, yb).accuracy == pytest.approx(recorded["exact_8bit"], abs=0.02)
    # the card describes the split the model never trained on and the test figures are on all 10,000 images
    assert len(card["split"]["hash"]) == 64 and card["accuracy"]["test"]["images"] == 10000
    assert card["accuracy"]["validation"]["images"] == card["split"]["validation_images"]


def test_unknown_and_unshipped_names_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown pretrained model 'resnet9_cifar10'.*available"):
        pretrained("resnet9_cifar10")
    name = next(iter(NOT_SHIPPED))
    with pytest.raises(FileNotFoundError, match="does not ship.*train_reference.py"):
        model_card(name)


def test_reference_split_is_seeded_and_named_by_its_hash():
    from tfaxdnn.data import reference_split
    labels = np.arange(100) % 10
    tr, va, h = reference_split(labels, 20, seed=0)
    assert len(tr) == 80 and len(va) == 20 and not set(tr) & set(va)
    assert (tr, va, h)[2] == reference_split(labels, 20, seed=0)[2]
    assert h != reference_split(labels, 20, seed=1)[2] and h != reference_split(labels, 21, seed=0)[2]
    with pytest.raises(ValueError, match="n_validation"):
        reference_split(labels, 100)


def test_card_split_refuses_a_file_that_is_not_the_cards(tmp_path):
    """A file whose labels give another split than the card's is an error, not a silent mix of training and
    validation images."""
    from tfaxdnn.models import card_split

    y = np.random.default_rng(0).integers(0, 10, 60000)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((60000, 1, 1), np.uint8), y_train=y, x_test=np.zeros((10, 1, 1), np.uint8),
             y_test=y[:10])
    with pytest.raises(ValueError, match="not the model card's"):
        card_split("lenet5_mnist", str(path))
