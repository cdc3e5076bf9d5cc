"""Synthetic house numbers in SVHN's own format 1, so the ``quick`` profile runs offline.

The numbers come from a small model of streets: a street has a length ``L`` drawn log-uniformly
(most streets are short, a few are very long), and a house on it gets a number uniform on
``1..L``. Mixing uniform ranges of log-uniform length makes leading digits follow Benford's law,
``P(d) = log10(1 + 1/d)``, for the same reason real house numbers do, and gives SVHN-like lengths
(mostly two digits, then three, then one; four and five rare).

Each number is drawn in one of the TrueType fonts that matplotlib ships, at a random size, spacing,
colour and contrast, on a gradient or textured background, sometimes on a plate, with small
rotation and shear, distractor lines, cut-off neighbouring digits at the edges, blur and noise, in
images of varying size and aspect ratio. Every digit's box is measured from its own rendered ink.

:func:`generate_split` writes PNG files ``1.png, 2.png, ...`` and a ``digitStruct.mat`` in the
MATLAB v7.3 layout (one-digit/several-digit quirk included), so the very same reader and
preprocessing run on synthetic and real data. Deterministic per seed.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from .digitstruct import DigitStruct, write_digit_struct
from .parallel import map_ranges

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
_CHUNK = 250  # most images per task of the worker processes: about a second of work


def font_paths() -> list[Path]:
    """Paths of the fonts used, from matplotlib's data folder (works offline)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [folder / name for name in FONT_NAMES if (folder / name).exists()]
    if not paths:
        raise FileNotFoundError(f"no TrueType fonts found in {folder}; reinstall matplotlib")
    return paths


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


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


def _background(rng, w, h, bg, bg2):
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
    grad = t[None, :, None] if len(t) == w else t[:, None, None]
    img = bg * (1 - grad) + bg2 * grad
    img = np.broadcast_to(img, (h, w, 3)).astype(np.float32)
    texture = Image.fromarray(rng.uniform(0, 255, (rng.integers(2, 8), rng.integers(2, 8))).astype(np.uint8))
    texture = np.asarray(texture.resize((w, h), Image.BICUBIC), dtype=np.float32) - 128
    return img + texture[..., None] * rng.uniform(0, 0.35)


def _affine(rng, w, h):
    """PIL affine coefficients (output -> input) for a small rotation and shear about the centre."""
    angle, shear = np.deg2rad(rng.uniform(-7, 7)), rng.uniform(-0.22, 0.22)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rot @ np.array([[1, shear], [0, 1]])
    inv = np.linalg.inv(forward)
    c = np.array([w / 2, h / 2])
    offset = c - inv @ c
    return (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])


def render_house_number(rng: np.random.Generator, number: int | None = None, fonts=None):
    """Draw one house number. Returns ``(image, digits, boxes)``.

    ``image``: uint8 ``(H, W, 3)``; ``digits``: list of ints 0-9; ``boxes``: float32 ``(k, 4)``
    ``(left, top, width, height)`` in pixels, SVHN's own box form.
    """
    fonts = fonts or font_paths()
    number = house_number(rng) if number is None else number
    text = str(number)
    size = int(rng.integers(18, 46))
    font = _font(str(fonts[rng.integers(len(fonts))]), size)
    spacing = rng.uniform(-0.06, 0.35) * size
    advances = [font.getlength(ch) for ch in text]
    text_w = sum(advances) + spacing * (len(text) - 1)
    ascent, descent = font.getmetrics()
    pad_l, pad_r = rng.uniform(0.15, 1.6, 2) * size
    pad_t, pad_b = rng.uniform(0.1, 0.9, 2) * size
    w = int(np.ceil(text_w + pad_l + pad_r))
    h = int(np.ceil(ascent + descent + pad_t + pad_b))
    bg, bg2, fg = _colours(rng)
    canvas = _background(rng, w, h, bg, bg2)
    draw_bg = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(draw_bg)
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
    coeffs = _affine(rng, w, h)
    masks, boxes = [], []
    x, y = pad_l, pad_t
    for ch, adv in zip(text, advances):
        m = Image.new("L", (w, h))
        ImageDraw.Draw(m).text((x, y), ch, font=font, fill=255)
        m = m.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR)
        masks.append(m)
        x += adv + spacing
    neighbours = Image.new("L", (w, h))
    for side in ("left", "right"):  # partial neighbouring digits cut by the image edge
        if rng.random() < 0.25:
            ch = str(rng.integers(0, 10))
            gw = font.getlength(ch)
            if (pad_l if side == "left" else pad_r) > 0.9 * gw:
                nx = -0.55 * gw if side == "left" else w - 0.45 * gw
                ImageDraw.Draw(neighbours).text((nx, y), ch, font=font, fill=255)
    ink = neighbours
    for m in masks:
        ink = ImageChops.lighter(ink, m)
    alpha = np.asarray(ink, dtype=np.float32)[..., None] / 255.0
    out = np.asarray(draw_bg, dtype=np.float32) * (1 - alpha) + fg * alpha
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    blur = rng.uniform(0, 1.3)
    if blur > 0.3:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(0, 9), (h, w, 3))
    image = np.clip(arr, 0, 255).astype(np.uint8)
    for m in masks:
        left, top, right, bottom = m.getbbox() or (0, 0, 1, 1)
        pad = rng.uniform(0, 2.5, 4)
        left, top = max(0.0, left - pad[0]), max(0.0, top - pad[1])
        right, bottom = min(float(w), right + pad[2]), min(float(h), bottom + pad[3])
        boxes.append([round(left), round(top), round(right - left), round(bottom - top)])
    return image, [int(c) for c in text], np.array(boxes, dtype=np.float32)


def _render_range(folder: str, seed: int, start: int, stop: int):
    """Render images ``start:stop`` (1-based names ``start+1``.png ...); returns their records."""
    fonts = font_paths()
    records = []
    for i in range(start, stop):
        rng = np.random.default_rng([seed, i])
        image, digits, boxes = render_house_number(rng, fonts=fonts)
        name = f"{i + 1}.png"
        Image.fromarray(image).save(Path(folder) / name, compress_level=1)
        records.append({
            "name": name,
            "label": [10 if d == 0 else d for d in digits],  # SVHN's convention: 10 = digit 0
            "left": boxes[:, 0], "top": boxes[:, 1], "width": boxes[:, 2], "height": boxes[:, 3],
        })
    return records


def generate_split(folder, n: int, seed: int = 0, progress: bool = True, workers: int | None = None) -> Path:
    """Write ``n`` synthetic house numbers as an SVHN format-1 split into ``folder``.

    Produces ``folder/1.png .. n.png`` and ``folder/digitStruct.mat``. The same ``seed`` gives the
    same images (each image ``i`` is drawn from its own generator seeded with ``[seed, i]``, so the
    result does not depend on ``workers``). ``workers`` processes draw chunks of up to 250 images
    (default: one per CPU core, at most 4; up to 250 images are drawn in this process), see
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
    write_digit_struct(folder / "digitStruct.mat", DigitStruct.from_records(records))
    if progress:
        elapsed = time.perf_counter() - start_time
        print(f"generated {n:,} synthetic house numbers in {folder} ({n / max(elapsed, 1e-9):,.0f} images/s)")
    return folder
