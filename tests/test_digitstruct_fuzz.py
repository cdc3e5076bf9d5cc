"""Property-based test of the ``digitStruct.mat`` reader: random files in the MATLAB v7.3 layout.

Hypothesis draws files of 0-4 images in SVHN's layout with random but valid forms (names with any
Unicode characters, as vectors of any orientation, byte order or compression; values of any
integer or float type; one-digit fields as a value or as a reference column) and gives most of
them one defect of a listed kind (KINDS: every kind, EXAMPLES times): a wrong dtype or shape, an
empty or oversized dataset, a reference to a group, a null or dangling reference, a missing
field, fields of unequal length, a broken index. All files are written first, then ONE child
Python process reads them, so a crash fails this test (naming the file) instead of killing pytest.
The properties:

* the reader never crashes and raises nothing but :class:`digitlib.data.DataError`;
* a valid file gives back exactly the names and values written;
* a file with a defect raises :class:`DigitStructError` naming the file, the image with the
  defect, and the fix.
"""
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from digitlib.data.digitstruct import FIELDS

ROOT = Path(__file__).resolve().parent.parent
FIX = "Delete the split's folder and download it again."

NAME_OK = ["col", "row", "flat", "big-endian", "int16", "gzip"]
NAME_BAD = ["uint8", "int32", "float32", "float64", "vlen-str", "bytes", "matrix", "empty", "rank3",
            "lone-surrogate", "nul", "too-long", "null-ref", "to-group", "dangling"]
VALUE_OK = [("<f8", (1, 1)), ("<f4", (1, 1)), ("<f2", (1, 1)), ("<i4", (1, 1)), ("|u1", (1, 1)),
            ("<i8", (1,)), ("<f8", ()), (">f8", (1, 1)), ("gzip", (1, 1))]
VALUE_BAD = [("<f8", (0, 1)), ("<f8", (2, 1)), ("<f8", (20_000, 1)), ("<f4", (1, 3)), ("<i4", (2, 2)), ("null", None),
             ("str", (1, 1)), ("bytes", (1, 1)), ("compound", (1, 1)), ("array", (1, 1))]
VALUE_ANY = [("enum", (1, 1)), ("bool", (1, 1)), ("<f8", (1, 1, 1))]  # no promise either way
COLUMN_OK = ["col", "row", "flat", "gzip"]
# a bad form for a one-digit field's value, or for the dataset a reference of a column points to
FORMS = {f"{where}:{kind}{shape}": (kind, shape) for where in ("value", "target") for kind, shape in VALUE_BAD + VALUE_ANY}
IMAGE_DEFECTS = ([f"name:{form}" for form in NAME_BAD] + list(FORMS)
                 + ["column-empty", "column-matrix", "column-region", "target-group", "target-null", "target-dangling",
                    "target-refs", "field-missing", "field-group", "length-mismatch", "bbox-null", "bbox-dataset"])
TOP_DEFECTS = ["index-float", "index-matrix", "index-string", "count-mismatch", "bbox-missing", "digitstruct-dataset"]
KINDS = ["valid"] * 6 + IMAGE_DEFECTS + TOP_DEFECTS
BATCHES, EXAMPLES = 5, 3  # KINDS in 5 strategies (Hypothesis limits the data of one example), 3 examples each

NAMES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=8).map(
    lambda s: s + ".png")


@st.composite
def digit_files(draw, kind: str):
    """A file spec: images with random valid forms, and the defect ``kind`` ("valid": none)."""
    images = []
    for _ in range(draw(st.integers(1 if kind in IMAGE_DEFECTS else 0, 4))):
        k = draw(st.integers(1, 4))
        fields = {f: {"direct": k == 1 and draw(st.booleans()), "layout": draw(st.sampled_from(COLUMN_OK)),
                      "forms": [draw(st.sampled_from(VALUE_OK)) for _ in range(k)]} for f in FIELDS}
        images.append({"name": draw(NAMES), "name_form": draw(st.sampled_from(NAME_OK)), "fields": fields,
                       "values": draw(st.lists(st.lists(st.integers(0, 255), min_size=5, max_size=5),
                                               min_size=k, max_size=k))})
    defect = None
    if kind in IMAGE_DEFECTS:
        defect = {"image": draw(st.integers(0, len(images) - 1)), "kind": kind, "field": draw(st.sampled_from(FIELDS))}
    elif kind in TOP_DEFECTS:
        defect = {"image": None, "kind": kind}
    return {"images": images, "index": draw(st.sampled_from(["col", "row", "flat"])), "defect": defect}


# ------------------------------------------------------------------------------------------ writing

def _value(group, key: str, v: int, form):
    kind, shape = form
    if kind == "gzip":
        return group.create_dataset(key, data=np.full(shape, v, "<f8"), chunks=shape, compression="gzip")
    if kind == "null":
        return group.create_dataset(key, data=h5py.Empty("<f8"))
    if kind == "str":
        return group.create_dataset(key, data=np.full(shape, str(v), object), dtype=h5py.string_dtype())
    if kind == "bytes":
        return group.create_dataset(key, data=np.full(shape, str(v).encode(), "S8"))
    if kind == "compound":
        data = np.zeros(shape, [("a", "<f8"), ("b", "<i4")])
        data["a"] = v
        return group.create_dataset(key, data=data)
    if kind == "array":
        return group.create_dataset(key, shape, dtype=np.dtype(("<f8", (2,))))
    if kind == "enum":
        return group.create_dataset(key, data=np.full(shape, v % 2, "i1"),
                                    dtype=h5py.enum_dtype({"a": 0, "b": 1}, basetype="i1"))
    if kind == "bool":
        return group.create_dataset(key, data=np.full(shape, bool(v % 2)))
    return group.create_dataset(key, data=np.full(shape, v, kind))


def _name(refs, i: int, name: str, form: str, box, dangling):
    """Write image ``i``'s name in ``form``; returns the reference for ``digitStruct/name``."""
    codes = np.frombuffer(name.encode("utf-16-le"), "<u2")
    special = {"null-ref": h5py.Reference(), "to-group": box.ref, "dangling": dangling}
    if form in special:
        return special[form]
    col = codes.reshape(-1, 1)
    data, kwargs = {
        "col": (col, {}), "row": (codes.reshape(1, -1), {}), "flat": (codes, {}),
        "big-endian": (col.astype(">u2"), {}), "int16": (col.view("<i2"), {}),
        "gzip": (col, {"chunks": (min(len(codes), 4), 1), "compression": "gzip"}),
        "uint8": ((col & 0xFF).astype("u1"), {}), "int32": (col.astype("<i4"), {}),
        "float32": (col.astype("<f4"), {}), "float64": (col.astype("<f8"), {}),
        "vlen-str": (np.array([[name]], object), {"dtype": h5py.string_dtype()}),
        "bytes": (np.array([[name.encode("utf-8")]]), {}),
        "matrix": (np.stack([codes, codes]), {}), "empty": (np.zeros((0, 1), "<u2"), {}),
        "rank3": (codes.reshape(-1, 1, 1), {}),
        "lone-surrogate": (np.append(codes, 0xD800).reshape(-1, 1), {}),
        "nul": (np.insert(codes, 1, 0).reshape(-1, 1), {}),
        "too-long": (np.resize(codes, 1025).reshape(-1, 1), {}),
    }[form]
    return refs.create_dataset(f"n{i}", data=data, **kwargs).ref


def _column(box, refs, key: str, targets: list, layout: str):
    cells = np.array(targets, dtype=object)
    shape = {"row": (1, len(targets)), "flat": (len(targets),)}.get(layout, (len(targets), 1))
    kwargs = {"chunks": (1, 1), "compression": "gzip"} if layout == "gzip" else {}
    box.create_dataset(key, data=cells.reshape(shape), dtype=h5py.ref_dtype, **kwargs)


def _image(refs, i: int, image: dict, defect: dict | None, dangling):
    """Write image ``i`` (with ``defect`` if it is this image's); returns (name ref, bbox ref)."""
    box = refs.create_group(f"b{i}")
    kind = defect["kind"] if defect else None
    name_form = kind[5:] if kind and kind.startswith("name:") else image["name_form"]
    name_ref = _name(refs, i, image["name"], name_form, box, dangling)
    values = np.array(image["values"]).T  # (5, k)
    for fi, field in enumerate(FIELDS):
        spec, column = image["fields"][field], list(values[fi])
        here = defect if defect and defect["field"] == field else None
        hkind = here["kind"].split(":")[0] if here else None  # "value" or "target" for the kinds in FORMS
        form = FORMS.get(here["kind"]) if here else None
        if hkind == "field-missing":
            continue
        if hkind == "field-group":
            box.create_group(field)
            continue
        if hkind == "value":
            _value(box, field, column[0], form)
            continue
        if hkind == "length-mismatch":
            column.append(0)
        if spec["direct"] and hkind is None:
            _value(box, field, column[0], spec["forms"][0])
            continue
        forms = spec["forms"] + [("<f8", (1, 1))]
        targets = [_value(refs, f"v{i}_{field}_{j}", v, forms[j]).ref for j, v in enumerate(column)]
        j = len(targets) - 1  # the digit a target defect replaces
        if hkind == "target":
            targets[j] = _value(refs, f"bad{i}_{field}", column[j], form).ref
        elif hkind in ("target-group", "target-null", "target-dangling"):
            targets[j] = {"target-group": box.ref, "target-null": h5py.Reference(), "target-dangling": dangling}[hkind]
        elif hkind == "target-refs":
            inner = np.array([[targets[j]]], dtype=object)
            targets[j] = refs.create_dataset(f"refs{i}_{field}", data=inner, dtype=h5py.ref_dtype).ref
        if hkind == "column-empty":
            box.create_dataset(field, shape=(0, 1), dtype=h5py.ref_dtype)
        elif hkind == "column-matrix":
            box.create_dataset(field, data=np.array((targets * 4)[:4], dtype=object).reshape(2, 2), dtype=h5py.ref_dtype)
        elif hkind == "column-region":
            target = refs.create_dataset(f"region{i}_{field}", data=values[fi].reshape(-1, 1).astype("<f8"))
            regions = np.array([[target.regionref[j:j + 1, 0:1]] for j in range(len(column))], dtype=object)
            box.create_dataset(field, data=regions, dtype=h5py.regionref_dtype)
        else:
            _column(box, refs, field, targets, spec["layout"])
    if kind == "bbox-null":
        return name_ref, h5py.Reference()
    if kind == "bbox-dataset":
        return name_ref, refs.create_dataset(f"not_a_box{i}", data=np.zeros((1, 1))).ref
    return name_ref, box.ref


def write_file(path: Path, spec: dict, dangling) -> dict:
    """Write ``spec``; returns the expected outcome: ``{"ok": records}``, ``{"error": image}``, ``{"any": ...}``."""
    images, defect = spec["images"], spec["defect"]
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        entries = [_image(refs, i, image, defect if defect and defect["image"] == i else None, dangling)
                   for i, image in enumerate(images)]
        name_refs = np.array([e[0] for e in entries], dtype=object)
        bbox_refs = np.array([e[1] for e in entries], dtype=object)
        top = defect["kind"] if defect and defect["image"] is None else None
        if top == "count-mismatch":
            bbox_refs = np.append(bbox_refs, refs.create_group("extra").ref)
        shape = {"row": lambda a: a.reshape(1, -1), "flat": lambda a: a}.get(spec["index"], lambda a: a.reshape(-1, 1))
        if top == "digitstruct-dataset":
            f.create_dataset("digitStruct", data=np.zeros(3))
        else:
            group = f.create_group("digitStruct")
            group.create_dataset("name", data=shape(name_refs), dtype=h5py.ref_dtype)
            if top == "index-float":
                del group["name"]
                group.create_dataset("name", data=np.zeros((len(images), 1)))
            elif top == "index-string":
                del group["name"]
                group.create_dataset("name", data=np.array([im["name"] for im in images] or [""], dtype=object),
                                     dtype=h5py.string_dtype())
            if top != "bbox-missing":
                data = np.stack([bbox_refs, bbox_refs], axis=1) if top == "index-matrix" else shape(bbox_refs)
                group.create_dataset("bbox", data=data, dtype=h5py.ref_dtype)
    if defect is None:
        return {"ok": [{"name": im["name"], **{fld: [float(v[fi]) for v in im["values"]] for fi, fld in enumerate(FIELDS)}}
                       for im in images]}
    if FORMS.get(defect["kind"]) in VALUE_ANY:
        return {"any": defect["kind"]}
    return {"error": defect["image"]}


READER = textwrap.dedent("""
    import json, sys
    from digitlib.data import DataError
    from digitlib.data.digitstruct import FIELDS, read_digit_struct

    for path in sys.argv[1:]:
        print("reading", path, file=sys.stderr, flush=True)
        try:
            s = read_digit_struct(path, use_cache=False, progress=False, workers=1)
            out = {"ok": [{"name": r["name"], **{f: r[f].tolist() for f in FIELDS}} for r in (s[i] for i in range(len(s)))]}
        except BaseException as err:  # report anything; the test checks it is a DataError
            out = {"raised": type(err).__name__, "data_error": isinstance(err, DataError), "message": str(err)}
        print(json.dumps(out), flush=True)
""")


def generate(folder: Path) -> list:
    """Write EXAMPLES files of every kind into ``folder``; returns [(path, spec, expected outcome)]."""
    with h5py.File(folder / "other.h5", "w") as other:  # a reference whose address is past the end of
        other.create_dataset("padding", data=np.zeros(1 << 20, np.uint8))  # every generated file
        dangling = other.create_dataset("value", data=np.zeros((1, 1))).ref
    files = []
    for batch_kinds in (KINDS[n::BATCHES] for n in range(BATCHES)):  # one example: one file per kind

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
        @given(st.tuples(*(digit_files(kind) for kind in batch_kinds)))
        def write(batch):
            for spec in batch:
                path = folder / f"{len(files):03d}" / "digitStruct.mat"
                path.parent.mkdir()
                files.append((path, spec, write_file(path, spec, dangling)))

        write()
    return files


def test_the_reader_survives_random_malformed_files(tmp_path):
    files = generate(tmp_path)
    kinds = {(s["defect"] or {"kind": "valid"})["kind"] for _, s, _ in files}
    assert len(files) == EXAMPLES * len(KINDS) and kinds == set(KINDS), kinds  # every defect, EXAMPLES times

    proc = subprocess.run([sys.executable, "-c", READER, *(str(p) for p, _, _ in files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    outcomes = [json.loads(line) for line in proc.stdout.splitlines()]
    if proc.returncode != 0:  # a crash (a signal, or memory corruption noticed at exit)
        where = f"reading {files[len(outcomes)][0]}" if len(outcomes) < len(files) else "at exit, after the last file"
        raise AssertionError(f"the reader crashed (exit code {proc.returncode}) {where}:\n{proc.stderr[-2000:]}")
    problems = []
    for (path, spec, expected), outcome in zip(files, outcomes):
        if "raised" in outcome:
            ok = (outcome["data_error"] and outcome["message"].startswith(f"{path}: ")
                  and outcome["message"].endswith(FIX))
        else:
            ok = True
        if "ok" in expected:
            ok = ok and outcome == expected
        elif "error" in expected:
            ok = ok and outcome.get("raised") == "DigitStructError" and (
                expected["error"] is None or re.match(rf"{re.escape(str(path))}: image {expected['error']}[ :]",
                                                      outcome["message"]) is not None)
        if not ok:
            problems.append(f"{path} made from {json.dumps(spec, default=str)}\ngave {outcome}")
    assert not problems, f"{len(problems)} of {len(files)} files broke the properties; the first:\n" + "\n".join(problems[:3])
