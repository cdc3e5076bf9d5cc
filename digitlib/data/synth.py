"""Synthetic house numbers in SVHN's own format 1, so the ``quick`` profile runs offline.

The numbers come from a small model of streets: a street has a length ``L`` drawn log-uniformly
(most streets are short, a few are very long), and a house on it gets a number uniform on
``1..L``. Mixing uniform ranges of log-uniform length makes leading digits follow Benford's law,
``P(d) = log10(1 + 1/d)``, for the same reason real house numbers do, and gives SVHN-like lengths
(mostly two digits, then three, then one; four and five rare).

Each number is drawn in one of the TrueType fonts that matplotlib ships, at a random size, spacing,
colour and contrast, condensed horizontally (narrow lettering, see :data:`CONDENSE`), on a gradient
or textured background, sometimes on a plate, with small rotation and shear, distractor lines,
cut-off neighbouring digits at the edges, blur and noise, in images of varying size and aspect
ratio. Every digit's box is measured from its own rendered ink.

:func:`generate_split` writes PNG files ``1.png, 2.png, ...`` (stored without compression: fast to
write and to read) and a ``digitStruct.mat`` in the MATLAB v7.3 layout (one-digit/several-digit
quirk included), so the very same reader and preprocessing run on synthetic and real data; the
reader's parse cache is written along with it, so preparing the split parses nothing.
Deterministic per seed. :func:`digitlib.data.explore.statistics_table` compares the result with
SVHN's published statistics.
"""
from __future__ import annotations

import importlib.util
import math
import struct
import time
import zlib
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..config import shown_path
from .digitstruct import DigitStruct, write_digit_struct
from .parallel import map_ranges

#: the generator's version: the synthetic data cache (``data/synth``) is keyed by it, so a book
#: updated to a generator that draws other images for the same seed never reuses the old ones.
#: Raise it with every change that alters the images or labels of a seed (tests/test_synth.py
#: pins a checksum of a small split to catch a forgotten raise).
GENERATOR_VERSION = 2
#: matplotlib's bundled fonts with clearly different digit shapes
FONT_NAMES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "cmr10.ttf", "cmss10.ttf", "cmb10.ttf", "cmtt10.ttf",
)
#: the street model: street lengths log-uniform on these bounds; a few long rural roads
STREET_LENGTH = (10, 2500)
LONG_ROAD_LENGTH = (2500, 60000)
LONG_ROAD_PROBABILITY = 0.01
#: horizontal scale of the lettering, uniform on these bounds. House numbers are often narrow, tall
#: digits: the report measured a mean width-to-height ratio of 0.99 for the crop around SVHN's train
#: digits (1.02 test, 1.23 extra). Unscaled, the fonts above give 1.75; these bounds give about 1.15.
CONDENSE = (0.4, 0.8)
_GLYPH_BORDER = 2  # empty pixels around a glyph's mask
_CHUNK = 500  # most images per task of the worker processes: about half a second of work


def font_paths() -> list[Path]:
    """Paths of the fonts used, from matplotlib's data folder ``mpl-data/fonts/ttf`` (works offline;
    found without importing matplotlib, which would cost each worker process a quarter second)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("matplotlib is not installed; its fonts draw the synthetic house numbers")
    folder = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
    paths = [folder / name for name in FONT_NAMES if (folder / name).exists()]
    if not paths:
        raise FileNotFoundError(f"no TrueType fonts found in {folder}; reinstall matplotlib")
    return paths


@lru_cache(maxsize=None)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path`` at ``size`` pixels, loaded once per process."""
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=None)
def _glyph(path: str, size: int, char: str) -> tuple[Image.Image, int, int, float]:
    """One character of a font, drawn once per process: ``(mask, left, top, advance)``.

    ``mask``: an ``"L"`` image of the character's ink with a border of 2 empty pixels (so bilinear
    resampling sees zeros around the ink, as it would on a whole canvas); ``(left, top)``: where the
    mask's top-left corner lies relative to the pen position (PIL's default anchor ``"la"``: left
    edge, ascender line); ``advance``: the pen's advance in pixels.
    """
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(char)
    mask = Image.new("L", (right - left + 2 * _GLYPH_BORDER, bottom - top + 2 * _GLYPH_BORDER))
    ImageDraw.Draw(mask).text((_GLYPH_BORDER - left, _GLYPH_BORDER - top), char, font=font, fill=255)
    return mask, left - _GLYPH_BORDER, top - _GLYPH_BORDER, font.getlength(char)


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """The standard normal distribution's quantiles at the 65,536 midpoints ``(k + 0.5) / 65536``,
    float32: indexed by uniform 16-bit integers they give normal samples (inverse transform
    sampling; the tails are cut at 4.3 standard deviations)."""
    inverse_cdf = NormalDist().inv_cdf
    return np.array([inverse_cdf((k + 0.5) / 65536) for k in range(65536)], dtype=np.float32)


def house_number(rng: np.random.Generator) -> int:
    """A house number from the street model: uniform on ``1..L``, ``L`` log-uniform."""
    lo, hi = LONG_ROAD_LENGTH if rng.random() < LONG_ROAD_PROBABILITY else STREET_LENGTH
    length = int(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return int(rng.integers(1, length + 1))


def _colours(rng):
    """Background colour, a second background colour for the gradient, and the digit colour."""
    grey = rng.uniform(15, 240)
    bg = np.clip(grey + rng.uniform(0, 0.55) * (rng.uniform(0, 255, 3) - grey), 0, 255)  # muted colours
    bg2 = np.clip(bg + rng.normal(0, 40, 3), 0, 255)
    lum = bg @ [0.299, 0.587, 0.114]
    target = rng.uniform(0, 60, 3) if lum > 128 else rng.uniform(195, 255, 3)
    contrast = rng.uniform(0.25, 1.0) if rng.random() < 0.85 else rng.uniform(0.12, 0.25)  # some low-contrast
    fg = bg + contrast * (target - bg) + rng.normal(0, 15, 3)
    return bg, bg2, np.clip(fg, 0, 255)


def _background(rng, w, h, bg, bg2) -> np.ndarray:
    """uint8 ``(h, w, 3)``: a linear gradient from ``bg`` to ``bg2`` (left-right or top-bottom)
    plus a smooth grey texture (a few random values, bicubically enlarged)."""
    horizontal = rng.random() < 0.5
    n = w if horizontal else h
    t = (np.arange(n, dtype=np.float32) / max(n - 1, 1))[:, None]  # 0..1
    ramp = (bg * (1 - t) + bg2 * t).astype(np.float32)  # (w or h, 3)
    ramp = ramp[None] if horizontal else ramp[:, None]
    texture = Image.fromarray(rng.uniform(0, 255, (rng.integers(2, 8), rng.integers(2, 8))).astype(np.uint8))
    texture = np.asarray(texture.resize((w, h), Image.BICUBIC), dtype=np.float32) - 128
    texture *= rng.uniform(0, 0.35)
    canvas = np.empty((h, w, 3), np.float32)
    for c in range(3):  # a channel at a time: twice as fast as numpy's broadcast over a last axis of 3
        np.add(ramp[..., c], texture, out=canvas[..., c])
    return np.clip(canvas, 0, 255, out=canvas).astype(np.uint8)


def _geometry(rng) -> tuple[float, float, float, float]:
    """``(a, b, c, d)``: the matrix ``[[a, b], [c, d]]`` of a small rotation after a small shear
    (applied about the image centre)."""
    angle, shear = math.radians(rng.uniform(-7, 7)), rng.uniform(-0.22, 0.22)
    cos, sin = math.cos(angle), math.sin(angle)
    return cos, cos * shear - sin, sin, sin * shear + cos


def _place_glyph(ink: np.ndarray, glyph: Image.Image, matrix: tuple, offset: tuple):
    """Draw ``glyph`` into ``ink`` (uint8 ``(h, w)``, max-combined), mapping glyph pixel ``u`` to
    canvas pixel ``matrix @ u + offset`` (``matrix``: ``(a, b, c, d)`` as in :func:`_geometry`;
    bilinear). Returns the ``(left, top, right, bottom)`` of its ink on the canvas, or None when
    none of it lands there.

    Only the window of the canvas the glyph can reach is resampled: the same pixels as
    transforming a whole canvas, at the cost of the glyph's size.
    """
    h, w = ink.shape
    gw, gh = glyph.size
    a, b, c, d = matrix
    ox, oy = offset
    xs = (ox, ox + a * gw, ox + b * gh, ox + a * gw + b * gh)
    ys = (oy, oy + c * gw, oy + d * gh, oy + c * gw + d * gh)
    x0, y0 = max(math.floor(min(xs)) - 1, 0), max(math.floor(min(ys)) - 1, 0)
    x1, y1 = min(math.ceil(max(xs)) + 1, w), min(math.ceil(max(ys)) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det  # the inverse: canvas -> glyph
    sx, sy = x0 - ox, y0 - oy
    coeffs = (ia, ib, ia * sx + ib * sy, ic, id_, ic * sx + id_ * sy)
    window = glyph.transform((x1 - x0, y1 - y0), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    bbox = window.getbbox()
    if bbox is None:
        return None
    region = ink[y0:y1, x0:x1]
    np.maximum(region, np.asarray(window), out=region)
    return bbox[0] + x0, bbox[1] + y0, bbox[2] + x0, bbox[3] + y0


def render_house_number(rng: np.random.Generator, number: int | None = None, fonts=None):
    """Draw one house number. Returns ``(image, digits, boxes)``.

    ``image``: uint8 ``(H, W, 3)``; ``digits``: list of ints 0-9; ``boxes``: float32 ``(k, 4)``
    ``(left, top, width, height)`` in pixels, SVHN's own box form: each digit's own ink after
    rotation, shear and condensing, padded by 0-2.5 pixels per side and clipped to the image.
    """
    fonts = fonts or font_paths()
    number = house_number(rng) if number is None else number
    text = str(number)
    size = int(rng.integers(18, 46))
    path = str(fonts[rng.integers(len(fonts))])
    glyphs = [_glyph(path, size, ch) for ch in text]
    condense = rng.uniform(*CONDENSE)
    spacing = rng.uniform(-0.06, 0.35) * size
    pens = np.concatenate([[0.0], np.cumsum([g[3] + spacing for g in glyphs])])  # pen x along the line
    ascent, descent = _font(path, size).getmetrics()
    pad_l, pad_r = rng.uniform(0.15, 1.6, 2) * size
    pad_t, pad_b = rng.uniform(0.1, 0.9, 2) * size
    w = int(np.ceil(condense * (pens[-1] - spacing) + pad_l + pad_r))
    h = int(np.ceil(ascent + descent + pad_t + pad_b))
    bg, bg2, fg = _colours(rng)
    canvas = Image.fromarray(_background(rng, w, h, bg, bg2))
    d = ImageDraw.Draw(canvas)
    if rng.random() < 0.3:  # a plate behind the number
        plate = tuple(int(v) for v in np.clip(bg + rng.normal(0, 35, 3), 0, 255))
        d.rectangle([pad_l * 0.5, pad_t * 0.4, w - pad_r * 0.5, h - pad_b * 0.4], fill=plate)
    for _ in range(rng.integers(0, 4)):  # distractor lines (edges of windows, bricks, wires)
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            y = rng.uniform(0, h)
            d.line([(0, y), (w, y + rng.uniform(-8, 8))], fill=colour, width=int(rng.integers(1, 4)))
        else:
            x = rng.uniform(0, w)
            d.line([(x, 0), (x + rng.uniform(-8, 8), h)], fill=colour, width=int(rng.integers(1, 4)))
    # glyph pixel u -> canvas: condensed (x scaled by `condense`), placed on the line at p, then
    # rotated and sheared about the centre c by g: g @ diag(condense, 1) @ u + g @ (p - c) + c
    g00, g01, g10, g11 = _geometry(rng)
    matrix = (g00 * condense, g01, g10 * condense, g11)
    cx, cy = w / 2, h / 2

    def place(glyph, x):  # x: left edge of the glyph's mask before rotation, in canvas pixels
        px, py = x - cx, pad_t + glyph[2] - cy
        return _place_glyph(ink, glyph[0], matrix, (g00 * px + g01 * py + cx, g10 * px + g11 * py + cy))

    ink = np.zeros((h, w), np.uint8)
    extents = [place(g, pad_l + condense * (pen + g[1])) for g, pen in zip(glyphs, pens)]
    for side, pad in (("left", pad_l), ("right", pad_r)):  # partial neighbouring digits cut by the image edge
        if rng.random() < 0.25:
            neighbour = _glyph(path, size, str(rng.integers(0, 10)))
            gw = condense * neighbour[3]
            if pad > 0.9 * gw:
                place(neighbour, (-0.55 * gw if side == "left" else w - 0.45 * gw) + condense * neighbour[1])
    canvas.paste(tuple(int(v) for v in fg), mask=Image.fromarray(ink))  # the ink's alpha blends in the colour
    blur = rng.uniform(0, 1.3)
    if blur > 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    noise = np.take(_normal_quantiles(), rng.integers(0, 65536, (h, w, 3), dtype=np.uint16))  # faster than [...]
    noise *= rng.uniform(0, 9)
    noise += np.asarray(canvas)
    image = np.clip(noise, 0, 255, out=noise).astype(np.uint8)
    boxes = []
    for extent in extents:
        left, top, right, bottom = extent or (0, 0, 1, 1)
        pad = rng.uniform(0, 2.5, 4)
        left, top = max(0.0, left - pad[0]), max(0.0, top - pad[1])
        right, bottom = min(float(w), right + pad[2]), min(float(h), bottom + pad[3])
        boxes.append([round(left), round(top), round(right - left), round(bottom - top)])
    return image, [int(c) for c in text], np.array(boxes, dtype=np.float32)


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 ``(H, W, 3)`` image as a PNG file's bytes, stored without compression.

    A valid PNG (8-bit truecolour, no filter, zlib "stored" blocks) that any reader opens, of
    about ``H * (3 W + 1)`` bytes: the pixels and a few bytes of headers. Neither writing nor
    reading it compresses or filters anything, which makes both much faster than with PIL's encoder
    even at ``compress_level=0`` (which still picks a filter for every row); noisy pictures
    compress poorly anyway. ``ValueError`` for anything but an RGB uint8 image.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"png_bytes needs an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    h, w, _ = image.shape
    rows = np.zeros((h, 3 * w + 1), np.uint8)  # each row: filter type 0 (none), then its pixels
    rows[:, 1:] = image.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate, no filter, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 0))
            + chunk(b"IEND", b""))


def _render_range(folder: str, seed: int, start: int, stop: int):
    """Render images ``start:stop`` (1-based names ``start+1``.png ...); returns their records."""
    fonts = font_paths()
    records = []
    for i in range(start, stop):
        rng = np.random.default_rng([seed, i])
        image, digits, boxes = render_house_number(rng, fonts=fonts)
        name = f"{i + 1}.png"
        (Path(folder) / name).write_bytes(png_bytes(image))
        records.append({
            "name": name,
            "label": [10 if d == 0 else d for d in digits],  # SVHN's convention: 10 = digit 0
            "left": boxes[:, 0], "top": boxes[:, 1], "width": boxes[:, 2], "height": boxes[:, 3],
        })
    return records


def generate_split(folder, n: int, seed: int = 0, progress: bool = True, workers: int | None = None) -> Path:
    """Write ``n`` synthetic house numbers as an SVHN format-1 split into ``folder``.

    Produces ``folder/1.png .. n.png``, ``folder/digitStruct.mat`` and the reader's parse cache
    ``digitStruct.mat.parsed.npz`` (see :func:`~digitlib.data.digitstruct.write_digit_struct`).
    The same ``seed`` gives the same images (each image ``i`` is drawn from its own generator
    seeded with ``[seed, i]``, so the result does not depend on ``workers``). ``workers`` processes draw chunks of up to 500 images
    (default: one per CPU core, at most 4; up to 500 images are drawn in this process), see
    :func:`digitlib.data.parallel.map_ranges`. The ``digitStruct.mat`` is written last: a folder
    without it is an interrupted run and is regenerated. ``n`` and ``workers`` must be positive
    integers (``ValueError`` otherwise).
    """
    for name, value in (("n", n), ("workers", 1 if workers is None else workers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"generate_split: {name} must be a positive integer, got {value!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digitStruct.mat").unlink(missing_ok=True)
    start_time = time.perf_counter()
    parts = map_ranges(_render_range, (str(folder), seed), n, _CHUNK, workers, progress,
                       desc=f"generating {folder.name}")
    records = [record for part in parts for record in part]
    write_digit_struct(folder / "digitStruct.mat", DigitStruct.from_records(records), parse_cache=True)
    if progress:
        elapsed = time.perf_counter() - start_time
        print(f"generated {n:,} synthetic house numbers in {shown_path(folder)} ({n / max(elapsed, 1e-9):,.0f} images/s)")
    return folder
