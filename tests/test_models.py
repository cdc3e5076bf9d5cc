"""Architectures: named outputs, the report's parameter budget, the Inception module."""
import numpy as np
import pytest

from digitlib.models import MNIST_SHAPE, SVHN_SHAPE, build_model, describe

HEADS = ["digit_1", "digit_2", "digit_3", "digit_4", "digit_5", "length"]


@pytest.mark.parametrize("name", ["mnist_cnn", "inception_cnn", "inception_deeper", "strong_cnn", "mnist_strong_cnn"])
def test_mnist_models_have_the_named_heads(name):
    kwargs = {"with_boxes": False}
    model = build_model(name, MNIST_SHAPE, **kwargs)
    assert sorted(model.output_names) == HEADS
    out = model.predict_on_batch(np.zeros((2, *MNIST_SHAPE), np.float32))
    assert out["digit_1"].shape == (2, 11) and out["length"].shape == (2, 6)
    np.testing.assert_allclose(out["digit_3"].sum(axis=1), 1, rtol=1e-5)


def test_svhn_localizer_is_the_reports_size():
    model = build_model("svhn_localizer", SVHN_SHAPE)
    assert sorted(model.output_names) == sorted(HEADS + ["boxes"])
    assert model.count_params() < 900_000  # "less than 900,000 parameters"
    assert model.count_params() > 850_000  # and not a much smaller network
    assert model.get_layer("conv_3x3").output.shape[1:] == (7, 7, 64)
    assert model.get_layer("boxes").output.shape[-1] == 20


def test_strong_model_stays_under_a_million_parameters():
    assert build_model("strong_cnn", SVHN_SHAPE).count_params() < 1_000_000
    assert build_model("strong_cnn", MNIST_SHAPE, with_boxes=False).count_params() < 1_000_000
    mnist_strong = build_model("mnist_strong_cnn", MNIST_SHAPE)
    assert mnist_strong.count_params() == 507_985
    # the strided stem halves the image; one pooling leaves a 7x35 grid: five 7x7 cells, one per slot
    assert mnist_strong.get_layer("stem_conv").output.shape[1:] == (14, 70, 32)
    assert mnist_strong.get_layer("squeeze").output.shape[1:] == (7, 35, 32)
    assert mnist_strong.get_layer("slot_dense").output.shape[1:] == (1, 5, 256)


def test_mnist_strong_reads_every_slot_with_one_shared_reader():
    keras = pytest.importorskip("keras")
    model = build_model("mnist_strong_cnn", MNIST_SHAPE)
    assert model.get_layer("slot_digit").kernel.shape == (256, 11)  # one 11-way classifier, not five
    probe = keras.Model(model.input, [model.get_layer("slot_digit").output, model.output])
    images = np.random.default_rng(0).random((3, *MNIST_SHAPE), dtype=np.float32)
    slot_probs, out = probe.predict_on_batch(images)
    assert slot_probs.shape == (3, 5, 11)
    for i in range(5):  # digit_i is slot i's row of the shared classifier
        np.testing.assert_allclose(out[f"digit_{i + 1}"], slot_probs[:, i], rtol=1e-6)
    with pytest.raises(ValueError, match="no boxes"):
        build_model("mnist_strong_cnn", MNIST_SHAPE, with_boxes=True)


def test_report_mnist_network_layers():
    model = build_model("mnist_cnn", MNIST_SHAPE)
    assert model.get_layer("conv_5x5").filters == 30 and model.get_layer("conv_5x5").kernel_size == (5, 5)
    assert model.get_layer("conv_3x3").filters == 15
    assert model.get_layer("dropout").rate == 0.4
    assert [model.get_layer(n).units for n in ("dense_1", "dense_2")] == [128, 128]


def test_inception_module_concatenates_the_reports_three_branches_of_64():
    model = build_model("inception_cnn", MNIST_SHAPE)
    assert model.get_layer("inception_concat").output.shape[-1] == 3 * 64  # the report's three branches
    assert model.get_layer("inception_5x5").kernel_size == (5, 5)
    assert model.get_layer("dropout").rate == 0.3
    deeper = build_model("inception_deeper", MNIST_SHAPE)
    assert deeper.count_params() != model.count_params() and deeper.get_layer("dense_2").units == 128


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        build_model("resnet", SVHN_SHAPE)


def test_describe_falls_back_to_a_text_summary(capsys, tmp_path):
    describe(build_model("mnist_cnn", MNIST_SHAPE), to_file=str(tmp_path / "m.png"))
    out = capsys.readouterr().out
    assert "conv_5x5" in out or (tmp_path / "m.png").exists()
