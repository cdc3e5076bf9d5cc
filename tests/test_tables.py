"""Tables and verdicts from saved predictions; experiments identified by their settings."""
import numpy as np
import pytest

from digitlib.config import PROFILES
from digitlib.data.dataset import DigitSequences
from digitlib.experiments import book_experiments, grid_experiments
from digitlib.metrics import evaluate_predictions
from digitlib.tables import comparison_table, paired_difference, result_intervals, result_row, verdict
from digitlib.training import Predictions, Result, load_predictions, save_predictions

N = 400


def _truth(seed=0):
    rng = np.random.default_rng(seed)
    digits = np.where(np.arange(5) < 2, rng.integers(0, 10, (N, 5)), 10)
    boxes = np.full((N, 5, 4), -1.0, np.float32)
    boxes[:, :2] = [[5, 5, 20, 40], [25, 5, 40, 40]]
    return DigitSequences(images=np.zeros((N, 54, 54, 3), np.uint8), digits=digits, lengths=np.full(N, 2),
                          boxes=boxes)


def _result(tmp_path, name, truth, right: float, seed=1):
    """A saved result whose predictions read the first ``right`` share of the images whole."""
    rng = np.random.default_rng(seed)
    digits = truth.digits.copy()
    wrong = rng.permutation(N)[: int(round((1 - right) * N))]
    digits[wrong, 0] = (digits[wrong, 0] + 1) % 10
    pred = Predictions(digits=digits, lengths=truth.lengths.copy(), boxes=truth.boxes + 1.0,
                       confidence=np.ones(N))
    folder = tmp_path / name
    folder.mkdir()
    save_predictions(folder / "predictions_test.npz", truth, pred)
    return Result(experiment={"epochs": 2, "batch_size": 8}, profile="quick", history={},
                  metrics={"test": evaluate_predictions(truth, pred)}, params=10, train_seconds=1.0,
                  images_per_second=1.0, folder=folder, data_source="fake")


def test_saved_predictions_round_trip_and_give_the_same_metrics(tmp_path):
    truth = _truth()
    result = _result(tmp_path, "a", truth, 0.6)
    saved_truth, saved_pred = result.predictions("test")
    assert saved_truth.image_size == (54, 54) and np.array_equal(saved_truth.digits, truth.digits)
    assert evaluate_predictions(saved_truth, saved_pred) == result.metrics["test"]
    with pytest.raises(FileNotFoundError, match="run the experiment again"):
        load_predictions(tmp_path / "a" / "predictions_validation.npz")


def test_tables_print_our_numbers_with_their_intervals(tmp_path):
    result = _result(tmp_path, "a", _truth(), 0.6)
    seq = result_intervals(result)["sequence_accuracy"]
    assert seq.low < 0.6 < seq.high and seq.estimate == pytest.approx(0.6)
    table = comparison_table([result_row("ours", result)])
    cell = table.loc["ours", "sequence acc."]
    assert cell == f"60.0% [{100 * seq.low:.1f}, {100 * seq.high:.1f}]"
    assert "batch 8" in table.loc["ours", "numbers from"]
    assert result_intervals(result, "validation") is None  # not kept: the row falls back to the number


def test_verdicts_follow_the_paired_interval(tmp_path):
    truth = _truth()
    weak, strong = _result(tmp_path, "weak", truth, 0.3), _result(tmp_path, "strong", truth, 0.7)
    same = _result(tmp_path, "same", truth, 0.3)
    assert verdict("weak", weak, "strong", strong).startswith("strong is ahead of weak in sequence accuracy by 40.0 points")
    assert "not resolved" in verdict("weak", weak, "same", same)
    assert paired_difference(weak, same).estimate == 0.0
    other = _result(tmp_path, "other", _truth(seed=5), 0.7)
    with pytest.raises(ValueError, match="same test images"):
        paired_difference(weak, other)


def test_the_same_settings_are_the_same_run_whatever_the_name():
    quick = PROFILES["quick"]
    exps = book_experiments(quick)
    grid = grid_experiments("svhn_report", {"box_loss_weight": list(quick.box_loss_weights)}, quick)
    keys = {exp.key(quick) for _, exp in grid}
    assert keys == {exps[f"box_weight_{w:g}"].key(quick) for w in quick.box_loss_weights}
    assert exps["svhn_report"].key(quick) == exps[f"box_weight_{quick.box_loss_weight:g}"].key(quick)
    assert exps["svhn_strong"].key(quick) != exps["svhn_report"].key(quick)
