"""digitStruct.mat: the real v7.3 layout (with its one-digit/several-digit quirk), bad files, the cache.

Files that crashed the interpreter before the reader checked types and shapes are read in a
separate Python process (:func:`damaged`), so a crash fails those tests instead of killing pytest.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import digitlib.data.digitstruct as ds
from digitlib.data import DataMissingError, DigitStructError
from digitlib.data.digitstruct import DigitStruct, read_digit_struct, write_digit_struct

ROOT = Path(__file__).resolve().parent.parent
RECORDS = [
    {"name": "1.png", "label": [1, 9], "left": [246, 323], "top": [77, 81], "width": [81, 96], "height": [219, 219]},
    {"name": "2.png", "label": [10], "left": [5], "top": [6], "width": [7], "height": [8]},
    {"name": "10.png", "label": [3, 10, 2], "left": [1, 9, 17], "top": [2, 2, 2], "width": [8, 8, 8], "height": [12, 12, 12]},
]
FIX = "Delete the split's folder and download it again."


def records_of(s: DigitStruct) -> list:
    return [{"name": r["name"], **{f: r[f].tolist() for f in ds.FIELDS}}
            for r in (s[i] for i in range(len(s)))]


@pytest.fixture
def mat(tmp_path):
    return write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records(RECORDS))


def test_written_file_has_the_matlab_v73_layout(mat):
    assert sorted(p.name for p in mat.parent.iterdir()) == ["digitStruct.mat"]  # no parse cache unless asked
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


def _high_level_write(path, struct):
    """The writer as it was, with h5py's high-level API: the reference for the low-level one."""
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        refs, group = f.create_group("#refs#"), f.create_group("digitStruct")
        group.attrs["MATLAB_class"] = np.bytes_(b"struct")
        index = {key: np.empty((len(struct), 1), dtype=object) for key in ("name", "bbox")}
        for i in range(len(struct)):
            r = struct[i]
            name = refs.create_dataset(f"n{i}", data=np.frombuffer(r["name"].encode("utf-16-le"), np.uint16)[:, None])
            name.attrs["MATLAB_class"] = np.bytes_(b"char")
            box = refs.create_group(f"b{i}")
            for field in ds.FIELDS:
                values = []
                for j, v in enumerate(r[field]):
                    dsid = h5py.h5d.create((box if len(r[field]) == 1 else refs).id,
                                           (field if len(r[field]) == 1 else f"v{i}_{field}_{j}").encode(),
                                           h5py.h5t.IEEE_F64LE, h5py.h5s.create_simple((1, 1)))
                    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.full((1, 1), v))
                    values.append([h5py.h5r.create(dsid, b".", h5py.h5r.OBJECT)])
                if len(values) > 1:
                    box.create_dataset(field, data=np.array(values, dtype=object), dtype=h5py.ref_dtype)
            index["name"][i, 0], index["bbox"][i, 0] = name.ref, box.ref
        for key, matlab_class in (("name", b"cell"), ("bbox", b"struct")):
            group.create_dataset(key, data=index[key], dtype=h5py.ref_dtype).attrs["MATLAB_class"] = np.bytes_(matlab_class)


def _objects(path) -> dict:
    """Every object of an HDF5 file: its header (messages, sizes, whether it has a timestamp),
    creation properties, attributes and data (references as the path they point to)."""
    out, paths = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            info, plist = h5py.h5o.get_info(obj.id), obj.id.get_create_plist()
            entry = {"header": (info.hdr.nmesgs, info.hdr.space.total, info.hdr.mesg.present, bool(info.mtime)),
                     "track_times": plist.get_obj_track_times(),
                     "attrs": {k: (h5py.h5a.open(obj.id, k.encode()).get_type().encode(), obj.attrs[k])
                               for k in obj.attrs}}
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                entry.update(type=obj.id.get_type().encode(), shape=obj.shape, layout=plist.get_layout(),
                             data=[h5py.h5o.get_info(h5py.h5r.dereference(r, f.id)).addr for r in data.flat]
                             if obj.dtype == h5py.ref_dtype else data.tobytes())
            out[name], paths[info.addr] = entry, name

        f.visititems(visit)
    for entry in out.values():
        if isinstance(entry.get("data"), list):
            entry["data"] = [paths[addr] for addr in entry["data"]]
    return out


def test_the_file_is_the_one_h5pys_high_level_api_writes(tmp_path, mat):
    """The low-level writer makes the same objects, headers and properties: the same format."""
    reference = tmp_path / "reference" / "digitStruct.mat"
    reference.parent.mkdir()
    _high_level_write(reference, DigitStruct.from_records(RECORDS))
    assert mat.stat().st_size == reference.stat().st_size
    assert _objects(mat) == _objects(reference)


@pytest.mark.parametrize("workers", [1, 2])
def test_round_trip(mat, workers):
    s = read_digit_struct(mat, use_cache=False, progress=False, workers=workers)
    assert list(s.names) == ["1.png", "2.png", "10.png"]
    assert s.counts.tolist() == [2, 1, 3]
    assert s[0]["left"].tolist() == [246, 323] and s[1]["label"].tolist() == [10]
    assert s[2]["label"].tolist() == [3, 10, 2] and s[2]["height"].tolist() == [12, 12, 12]


def test_several_worker_processes_give_the_same_result(mat, monkeypatch):
    monkeypatch.setattr(ds, "_CHUNK", 1)  # three ranges, parsed by two worker processes
    assert records_of(read_digit_struct(mat, use_cache=False, progress=False, workers=2)) == RECORDS


def _die(*args):
    os._exit(3)  # a worker that dies (killed, out of memory, crashed)


def test_a_worker_process_that_dies_gives_digitstructerror(mat, monkeypatch):
    monkeypatch.setattr(ds, "_CHUNK", 1)
    monkeypatch.setattr(ds, "_parse_range", _die)
    with pytest.raises(DigitStructError, match="a worker process died while parsing images 0 to 0.*workers=1"):
        read_digit_struct(mat, use_cache=False, progress=False, workers=2)


def test_non_ascii_names_round_trip_through_file_and_cache(tmp_path):
    names = ["café.png", "門牌 12.png", "🏠7.png"]  # 🏠 is outside the BMP: a surrogate pair
    records = [dict(r, name=n) for r, n in zip(RECORDS, names)]
    mat = write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records(records))
    with h5py.File(mat, "r") as f:
        assert f[f["digitStruct/name"][2, 0]].shape == (7, 1)  # 6 characters, 7 UTF-16 code units
    assert list(read_digit_struct(mat, progress=False).names) == names  # parsed, cache written
    assert list(read_digit_struct(mat, progress=False).names) == names  # from the cache


def test_a_parse_cache_written_with_the_file_is_what_a_parse_gives(tmp_path, monkeypatch):
    records = [dict(r, name=n) for r, n in zip(RECORDS, ["1.png", "門牌 12.png", "🏠7.png"])]
    mat = write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records(records), parse_cache=True)
    parsed = read_digit_struct(mat, use_cache=False, progress=False)
    monkeypatch.setattr(ds, "_parse", lambda *a: pytest.fail("parsed despite the cache written with the file"))
    cached = read_digit_struct(mat, progress=False)
    for key in ("names", "counts") + ds.FIELDS:
        assert getattr(cached, key).dtype == getattr(parsed, key).dtype
        np.testing.assert_array_equal(getattr(cached, key), getattr(parsed, key))


@pytest.mark.parametrize("name", ["", "a\x00b.png"])
def test_writer_refuses_names_the_reader_would_refuse(tmp_path, name):
    with pytest.raises(DigitStructError, match="non-empty without NUL"):
        write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records([dict(RECORDS[1], name=name)]))
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone


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
    with pytest.raises(DigitStructError, match=r"image 1 \('2.png'\): its bbox has no field 'width'"):
        read_digit_struct(mat, use_cache=False, progress=False)


def test_missing_file_says_how_to_fetch(tmp_path):
    with pytest.raises(DataMissingError, match="python -m digitlib.data fetch svhn"):
        read_digit_struct(tmp_path / "nope" / "digitStruct.mat")


def test_an_unreadable_file_is_a_clear_error(mat, monkeypatch):
    import pooch

    def refuse(path, alg="sha256"):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(pooch, "file_hash", refuse)  # works as root too, unlike chmod
    with pytest.raises(DigitStructError, match="cannot be read .*Permission denied.*check its permissions"):
        read_digit_struct(mat, progress=False)


def test_records_with_unequal_fields_are_refused():
    with pytest.raises(DigitStructError):
        DigitStruct.from_records([{"name": "a", "label": [1, 2], "left": [1], "top": [1], "width": [1], "height": [1]}])


# ------------------------------------------------------------------------------------ the cache

def test_parse_is_cached_and_the_cache_follows_the_file(mat, monkeypatch):
    first = read_digit_struct(mat, progress=False)
    monkeypatch.setattr(ds, "_parse", lambda *a: pytest.fail("parsed again despite the cache"))
    again = read_digit_struct(mat, progress=False)
    assert list(again.names) == list(first.names)
    monkeypatch.undo()
    write_digit_struct(mat, DigitStruct.from_records(RECORDS[:2]))  # the file changes
    assert len(read_digit_struct(mat, progress=False)) == 2


def test_a_different_file_with_the_same_size_and_mtime_is_parsed_again(mat):
    """``cp -p`` of another split's file: size and modification time match, the content does not."""
    assert read_digit_struct(mat, progress=False)[1]["label"].tolist() == [10]
    before = mat.stat()
    changed = [dict(r, label=[4] * len(r["label"])) for r in RECORDS]
    write_digit_struct(mat, DigitStruct.from_records(changed))
    os.utime(mat, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = mat.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert read_digit_struct(mat, progress=False)[1]["label"].tolist() == [4]


def _truncate(cache: Path):
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])


def _wrong_shapes(cache: Path):
    with np.load(cache) as z:
        arrays = dict(z)
    arrays["counts"] = arrays["counts"][:-1]
    np.savez(cache, **arrays)  # the right stamp, inconsistent arrays


@pytest.mark.parametrize("damage", [
    pytest.param(lambda c: c.write_bytes(b"not a zip file at all" * 50), id="garbage"),
    pytest.param(lambda c: c.write_bytes(b""), id="empty"),
    pytest.param(_truncate, id="truncated"),
    pytest.param(_wrong_shapes, id="wrong-shapes"),
    pytest.param(lambda c: np.savez(c, stamp=np.array([1, 0, 0])), id="format-1-cache"),
])
def test_a_damaged_or_old_cache_heals(mat, damage):
    read_digit_struct(mat, progress=False)
    cache = ds._cache_path(mat)
    damage(cache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert records_of(read_digit_struct(mat, progress=False)) == RECORDS
    with np.load(cache) as z:  # rewritten
        assert z["version"] == ds.PARSE_CACHE_VERSION and len(z["names"]) == 3


def test_a_folder_that_cannot_be_written_gives_a_warning_and_the_data(mat, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(ds.os, "replace", refuse)  # works as root too, unlike chmod
    with pytest.warns(UserWarning, match="Could not write the parse cache .*Permission denied"):
        s = read_digit_struct(mat, progress=False)
    assert records_of(s) == RECORDS
    assert sorted(p.name for p in mat.parent.iterdir()) == ["digitStruct.mat"]  # no temporary file left


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_gives_a_warning_and_the_data(mat):
    mat.parent.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="Could not write the parse cache"):
            assert records_of(read_digit_struct(mat, progress=False)) == RECORDS
    finally:
        mat.parent.chmod(0o755)


def test_concurrent_parses_of_one_file_do_not_clash(mat):
    code = ("import sys; from digitlib.data.digitstruct import read_digit_struct; "
            "print(len(read_digit_struct(sys.argv[1], progress=False, workers=1)))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(mat)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "3", err
    assert sorted(p.name for p in mat.parent.iterdir()) == ["digitStruct.mat", "digitStruct.mat.parsed.npz"]
    assert records_of(read_digit_struct(mat, progress=False)) == RECORDS


# ------------------------------------------- damaged files, each read in one separate Python process

READER = textwrap.dedent("""
    import json, sys
    from digitlib.data import DataError
    import digitlib.data.digitstruct as ds

    for job in json.loads(sys.argv[1]):
        print("reading", job["path"], file=sys.stderr, flush=True)
        ds._CHUNK = job["chunk"]
        try:
            s = ds.read_digit_struct(job["path"], use_cache=False, progress=False, workers=job["workers"])
            out = {"ok": [{"name": r["name"], **{f: r[f].tolist() for f in ds.FIELDS}}
                          for r in (s[i] for i in range(len(s)))]}
        except BaseException as err:  # report anything; the tests check it is a DigitStructError
            out = {"error": type(err).__name__, "data_error": isinstance(err, DataError), "message": str(err)}
        print(json.dumps(out), flush=True)
""")


def _replace(f, index_key: str, i: int, data=None, **kwargs):
    """Point ``digitStruct/<index_key>[i]`` at a new dataset (``data``) or at ``kwargs['ref']``."""
    ref = kwargs.pop("ref", None)
    if ref is None:
        ref = f["#refs#"].create_dataset(f"new_{index_key}{i}", data=data, **kwargs).ref
    index = f[f"digitStruct/{index_key}"]
    refs = index[()]
    refs[i, 0] = ref
    del f[f"digitStruct/{index_key}"]
    f.create_dataset(f"digitStruct/{index_key}", data=refs, dtype=h5py.ref_dtype)


def _name(i, data, **kwargs):
    return lambda f: _replace(f, "name", i, data, **kwargs)


def _field(i, field, data=None, **kwargs):
    def change(f):
        box = f[f["digitStruct/bbox"][i, 0]]
        del box[field]
        box.create_dataset(field, data=data, **kwargs)
    return change


def _digit(i, field, j, data, **kwargs):
    """Point reference ``j`` of a several-digit field at a new dataset."""
    def change(f):
        box = f[f["digitStruct/bbox"][i, 0]]
        refs = box[field][()]
        refs[j, 0] = f["#refs#"].create_dataset(f"new_{i}_{field}_{j}", data=data, **kwargs).ref
        del box[field]
        box.create_dataset(field, data=refs, dtype=h5py.ref_dtype)
    return change


def _index_dataset(key, transform):
    def change(f):
        refs = f[f"digitStruct/{key}"][()]
        del f[f"digitStruct/{key}"]
        data = transform(refs)
        f.create_dataset(f"digitStruct/{key}", data=data, dtype=h5py.ref_dtype if data.dtype.kind == "O" else None)
    return change


def _foreign_reference(padding: int):
    """Reference 1 of image 0's ``left`` made in another file, so its address means nothing here:
    past the end of this file (``padding`` 1 MB), or somewhere inside it (``padding`` 0)."""
    def change(f):
        with h5py.File(Path(f.filename).with_name("other.h5"), "w") as other:
            other.create_dataset("padding", data=np.zeros(padding, np.uint8))
            for n in range(50):
                ref = other.create_dataset(f"d{n}", data=np.zeros((1, 1))).ref
        box = f[f["digitStruct/bbox"][0, 0]]
        refs = box["left"][()]
        refs[1, 0] = ref
        del box["left"]
        box.create_dataset("left", data=refs, dtype=h5py.ref_dtype)
    return change


def _null_name(f):
    _replace(f, "name", 1, ref=h5py.Reference())


def _group_as_name(f):
    _replace(f, "name", 1, ref=f["digitStruct/bbox"][1, 0])


def _dataset_as_bbox(f):
    _replace(f, "bbox", 1, ref=f["digitStruct/name"][1, 0])


def _region_references(f):
    box = f[f["digitStruct/bbox"][0, 0]]
    target = f["#refs#"].create_dataset("region_target", data=np.zeros((2, 1)))
    del box["top"]
    box.create_dataset("top", data=np.array([[target.regionref[0:1]], [target.regionref[1:2]]], dtype=object),
                       dtype=h5py.regionref_dtype)


def _ref_to_group(f):
    box = f[f["digitStruct/bbox"][0, 0]]
    refs = box["height"][()]
    refs[0, 0] = box.ref
    del box["height"]
    box.create_dataset("height", data=refs, dtype=h5py.ref_dtype)


def _gzip_ref_column(f):
    box = f[f["digitStruct/bbox"][2, 0]]
    refs = box["label"][()]
    del box["label"]
    box.create_dataset("label", data=refs, dtype=h5py.ref_dtype, chunks=(1, 1), compression="gzip")


def _corrupt_gzip_value(f):
    """A compressed value whose chunk holds garbage: zlib fails to decompress it."""
    box = f[f["digitStruct/bbox"][1, 0]]
    del box["left"]
    chunk = box.create_dataset("left", data=np.full((1, 1), 5.0), chunks=(1, 1), compression="gzip").id.get_chunk_info(0)
    f.flush()
    with open(f.filename, "r+b") as raw:
        raw.seek(chunk.byte_offset)
        raw.write(b"\xff" * chunk.size)


def _huge_index(f):
    for key in ("name", "bbox"):
        del f[f"digitStruct/{key}"]
        f.create_dataset(f"digitStruct/{key}", shape=(10**12, 1), dtype=h5py.ref_dtype, chunks=(1024, 1))


def _field_is_group(f):
    box = f[f["digitStruct/bbox"][1, 0]]
    del box["left"]
    box.create_group("left")


def _valid(changes: dict | None = None):
    """The expected records after changing some images (``{image: {field: values}}``)."""
    out = [dict(r) for r in RECORDS]
    for i, fields in (changes or {}).items():
        out[i].update(fields)
    return {"ok": out}


def _error(pattern):
    return {"error": pattern}


ANY = {"any": None}  # no promise but the property: a DigitStructError or the data, never a crash
LONG = "2" * 1000 + ".png"  # compresses to far fewer bytes than it has characters


def u16(text):
    return np.frombuffer(text.encode("utf-16-le"), np.uint16)


def _both(*changes):
    return lambda f: [change(f) for change in changes]


CASES = {
    # names: MATLAB text is 16-bit code units
    "name-uint8": (_name(1, np.frombuffer(b"2.png", np.uint8).reshape(-1, 1)),
                   _error(r"image 1: its name is a \(5, 1\) uint8 dataset, not MATLAB text")),
    "name-int32": (_name(1, u16("2.png").astype(np.int32).reshape(-1, 1)), _error("image 1: its name is a .* int32")),
    "name-float64": (_name(1, u16("2.png").astype(np.float64).reshape(-1, 1)),
                     _error("image 1: its name is a .*float64")),
    "name-string": (_name(1, np.array([["2.png"]], dtype=object), dtype=h5py.string_dtype()),
                    _error(r"image 1: its name is a \(1, 1\) string dataset")),
    "name-matrix": (_name(1, u16("2.pn").reshape(2, 2)), _error(r"image 1: its name is a \(2, 2\) uint16")),
    "name-empty": (_name(1, np.zeros((0, 1), np.uint16)), _error(r"image 1: its name is a \(0, 1\) uint16")),
    "name-lone-surrogate": (_name(1, np.array([[0xD800], [0x41]], np.uint16)),
                            _error("image 1: its name is not valid UTF-16")),
    "name-with-nul": (_name(1, u16("2\x00.png").reshape(-1, 1)), _error(r"image 1: its name '2\\x00.png' contains a NUL")),
    "name-null-reference": (_null_name, _error("image 1: its name reference is a null reference")),
    "name-points-to-a-group": (_group_as_name, _error("image 1: its name reference points to a group, not a dataset")),
    "name-gzip": (_name(1, u16(LONG).reshape(-1, 1), chunks=(64, 1), compression="gzip"), _valid({1: {"name": LONG}})),
    "name-row-big-endian-int16": (_name(1, u16("2.png").astype(">i2").reshape(1, -1)), _valid()),
    "name-non-ascii": (_name(1, u16("café😀.png").reshape(-1, 1)), _valid({1: {"name": "café😀.png"}})),
    # one-digit values: any integer or float type, one element
    "value-float32": (_field(1, "left", np.full((1, 1), 12.5, np.float32)), _valid({1: {"left": [12.5]}})),
    "value-int-and-byte-order": (_both(_field(1, "top", np.full((1, 1), 200, np.uint8)),
                                       _field(1, "width", np.full((1,), 70000, np.int32)),
                                       _field(1, "height", np.full((1, 1), 9.5, ">f8")),
                                       _field(1, "label", np.float64(3))),
                                 _valid({1: {"top": [200], "width": [70000], "height": [9.5], "label": [3]}})),
    "value-gzip": (_field(1, "left", np.full((1, 1), 5.0), chunks=(1, 1), compression="gzip"), _valid()),
    "value-gzip-damaged": (_corrupt_gzip_value, _error(r"image 1 \('2.png'\): its bbox field 'left' is a \(1, 1\) "
                                                     "float64 dataset that could not be read")),
    "value-bigger-dataset": (_field(1, "width", np.zeros((3, 1))),
                             _error(r"image 1 \('2.png'\): its bbox field 'width' is a \(3, 1\) float64 dataset, "
                                    "not one number")),
    "value-empty": (_field(1, "width", np.zeros((0, 1))), _error(r"its bbox field 'width' is a \(0, 1\) float64")),
    "value-matrix": (_field(0, "label", np.zeros((2, 2))), _error(r"its bbox field 'label' is a \(2, 2\) float64")),
    "value-string": (_field(1, "label", np.array([["7"]], dtype=object), dtype=h5py.string_dtype()),
                     _error(r"its bbox field 'label' is a \(1, 1\) string dataset, not one number or a \(k, 1\) column")),
    "value-compound": (_field(1, "label", np.zeros((1, 1), [("a", "f8"), ("b", "i4")])),
                       _error(r"its bbox field 'label' is a \(1, 1\) \[\('a', '<f8'\), \('b', '<i4'\)\] dataset")),
    "value-array-type": (_field(1, "label", shape=(1, 1), dtype=np.dtype(("f8", (3,)))),
                         _error(r"its bbox field 'label' is a \(1, 1\) \('<f8', \(3,\)\) dataset")),
    "field-is-a-group": (_field_is_group, _error(r"image 1 \('2.png'\): its bbox field 'left' is not a dataset")),
    # several digits: references, each to one number
    "reference-to-bigger-dataset": (_digit(0, "top", 1, np.zeros((50_000, 1))),
                                    _error(r"image 0 \('1.png'\): its bbox field 'top': reference 1 is a \(50000, 1\) "
                                           "float64 dataset, not one number")),
    "reference-to-float32-and-int": (_both(_digit(0, "top", 1, np.full((1, 1), 80.25, np.float32)),
                                           _digit(2, "left", 0, np.full((1, 1), 2, np.int16))),
                                     _valid({0: {"top": [77, 80.25]}, 2: {"left": [2, 9, 17]}})),
    "reference-to-a-group": (_ref_to_group,
                             _error("its bbox field 'height': reference 0 points to a group, not a dataset")),
    "reference-past-the-end": (_foreign_reference(1 << 20), _error(r"image 0 \('1.png'\) could not be read \(KeyError")),
    "reference-into-the-middle": (_foreign_reference(0), ANY),
    "region-references": (_region_references,
                          _error(r"its bbox field 'top' is a \(2, 1\) region reference dataset, not one number or")),
    "reference-column-gzip": (_gzip_ref_column, _valid()),
    "bbox-points-to-a-dataset": (_dataset_as_bbox,
                                 _error(r"image 1 \('2.png'\): its bbox reference points to a dataset, not a group")),
    # the index datasets
    "index-row-and-flat": (_both(_index_dataset("name", lambda r: r.reshape(1, -1)),
                                 _index_dataset("bbox", lambda r: r.ravel())), _valid()),
    "index-not-references": (_index_dataset("name", lambda r: np.zeros((3, 1))),
                             _error(r"digitStruct/name is a \(3, 1\) float64 dataset, not an \(N, 1\) column of "
                                    "references")),
    "index-huge": (_huge_index, _error("it lists 1,000,000,000,000 images")),
    "index-matrix": (_index_dataset("bbox", lambda r: np.concatenate([r, r], axis=1)),
                     _error(r"digitStruct/bbox is a \(3, 2\) reference dataset")),
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """Every case of CASES (plus one parsed by two worker processes), read in one child process."""
    jobs = []
    for case, (change, _) in CASES.items():
        path = write_digit_struct(tmp_path_factory.mktemp(case) / "digitStruct.mat", DigitStruct.from_records(RECORDS))
        with h5py.File(path, "r+") as f:
            change(f)
        jobs.append({"case": case, "path": str(path), "workers": 1, "chunk": 2000})
    records = [dict(RECORDS[i % 3], name=f"{i}.png") for i in range(7)]
    path = write_digit_struct(tmp_path_factory.mktemp("worker") / "digitStruct.mat", DigitStruct.from_records(records))
    with h5py.File(path, "r+") as f:
        _name(5, np.frombuffer(b"5.png", np.uint8).reshape(-1, 1))(f)
    jobs.append({"case": "worker", "path": str(path), "workers": 2, "chunk": 2})
    proc = subprocess.run([sys.executable, "-c", READER, json.dumps(jobs)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    outcomes = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(outcomes) < len(jobs):  # the file after the last outcome crashed the reader
        crashed = jobs[len(outcomes)]["case"]
        outcomes.append(f"the reader crashed (exit code {proc.returncode}) reading {jobs[len(outcomes)]['path']}; "
                        f"its stderr ends with:\n{proc.stderr[-2000:]}")
        outcomes += [f"not read: the reader crashed on case {crashed!r} before"] * (len(jobs) - len(outcomes))
    return {job["case"]: (job["path"], outcome) for job, outcome in zip(jobs, outcomes)}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_file_raises_digitstructerror_and_never_crashes(damaged, case):
    path, outcome = damaged[case]
    assert isinstance(outcome, dict), outcome  # a string: the child process crashed
    expected = CASES[case][1]
    if "ok" in expected:
        assert outcome == expected
    elif "ok" in outcome:
        assert expected is ANY, f"a damaged file was read without an error: {outcome}"
    else:
        assert outcome.get("error") == "DigitStructError", outcome
        assert outcome["message"].startswith(f"{path}: ") and outcome["message"].endswith(FIX)
        assert expected is ANY or re.search(expected["error"], outcome["message"]), outcome["message"]


def test_an_error_in_a_worker_process_comes_back_as_digitstructerror(damaged):
    path, outcome = damaged["worker"]
    assert isinstance(outcome, dict), outcome
    assert outcome.get("error") == "DigitStructError", outcome
    assert f"{path}: image 5: its name is a (5, 1) uint8 dataset" in outcome["message"]
