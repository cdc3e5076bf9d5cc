"""digitStruct.mat: the real v7.3 layout (with its one-digit/several-digit quirk), and bad files."""
import h5py
import numpy as np
import pytest

from digitlib.data import DataMissingError, DigitStructError
from digitlib.data.digitstruct import DigitStruct, read_digit_struct, write_digit_struct

RECORDS = [
    {"name": "1.png", "label": [1, 9], "left": [246, 323], "top": [77, 81], "width": [81, 96], "height": [219, 219]},
    {"name": "2.png", "label": [10], "left": [5], "top": [6], "width": [7], "height": [8]},
    {"name": "10.png", "label": [3, 10, 2], "left": [1, 9, 17], "top": [2, 2, 2], "width": [8, 8, 8], "height": [12, 12, 12]},
]


@pytest.fixture
def mat(tmp_path):
    return write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records(RECORDS))


def test_written_file_has_the_matlab_v73_layout(mat):
    assert mat.read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(mat, "r") as f:
        assert f["digitStruct/name"].shape == (3, 1) and f["digitStruct/bbox"].shape == (3, 1)
        one = f[f["digitStruct/bbox"][1, 0]]["label"]
        assert one.shape == (1, 1) and one.dtype == np.float64  # one digit: the value itself
        several = f[f["digitStruct/bbox"][0, 0]]["label"]
        assert several.shape == (2, 1) and several.dtype.kind == "O"  # several: references
        assert f[several[1, 0]][0, 0] == 9
        name = f[f["digitStruct/name"][2, 0]][()]
        assert name.dtype == np.uint16 and "".join(map(chr, name.ravel())) == "10.png"


@pytest.mark.parametrize("workers", [1, 2])
def test_round_trip(mat, workers):
    s = read_digit_struct(mat, use_cache=False, progress=False, workers=workers)
    assert list(s.names) == ["1.png", "2.png", "10.png"]
    assert s.counts.tolist() == [2, 1, 3]
    assert s[0]["left"].tolist() == [246, 323] and s[1]["label"].tolist() == [10]
    assert s[2]["label"].tolist() == [3, 10, 2] and s[2]["height"].tolist() == [12, 12, 12]


def test_parse_is_cached_and_the_cache_follows_the_file(mat, monkeypatch):
    first = read_digit_struct(mat, progress=False)
    import digitlib.data.digitstruct as ds

    monkeypatch.setattr(ds, "_parse", lambda *a: pytest.fail("parsed again despite the cache"))
    again = read_digit_struct(mat, progress=False)
    assert list(again.names) == list(first.names)
    monkeypatch.undo()
    write_digit_struct(mat, DigitStruct.from_records(RECORDS[:2]))  # the file changes
    assert len(read_digit_struct(mat, progress=False)) == 2


def test_not_hdf5_is_a_clear_error(tmp_path):
    bad = tmp_path / "digitStruct.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5 at all" * 10)
    with pytest.raises(DigitStructError, match="not an HDF5 file.*download it again"):
        read_digit_struct(bad, use_cache=False, progress=False)


def test_missing_bbox_is_a_clear_error(tmp_path):
    bad = tmp_path / "digitStruct.mat"
    with h5py.File(bad, "w") as f:
        f.create_dataset("digitStruct/name", data=np.zeros((2, 1)))
    with pytest.raises(DigitStructError, match="no digitStruct/name and digitStruct/bbox"):
        read_digit_struct(bad, use_cache=False, progress=False)


def test_name_bbox_count_mismatch(tmp_path, mat):
    with h5py.File(mat, "r+") as f:
        refs = f["digitStruct/bbox"][:2]
        del f["digitStruct/bbox"]
        f.create_dataset("digitStruct/bbox", data=refs, dtype=h5py.ref_dtype)
    with pytest.raises(DigitStructError, match="3 names but 2 bboxes"):
        read_digit_struct(mat, use_cache=False, progress=False)


def test_missing_field_names_the_image(mat):
    with h5py.File(mat, "r+") as f:
        del f[f["digitStruct/bbox"][1, 0]]["width"]
    with pytest.raises(DigitStructError, match="'2.png' has no field 'width'"):
        read_digit_struct(mat, use_cache=False, progress=False)


def test_missing_file_says_how_to_fetch(tmp_path):
    with pytest.raises(DataMissingError, match="python -m digitlib.data fetch svhn"):
        read_digit_struct(tmp_path / "nope" / "digitStruct.mat")


def test_records_with_unequal_fields_are_refused():
    with pytest.raises(DigitStructError):
        DigitStruct.from_records([{"name": "a", "label": [1, 2], "left": [1], "top": [1], "width": [1], "height": [1]}])
