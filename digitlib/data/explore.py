"""Statistics the exploration chapter shows, for any prepared split (real or synthetic).

:func:`house_number_statistics` measures a prepared house-number split (lengths, crop aspect
ratios, contrast); :func:`statistics_table` puts those numbers beside the ones published for real
SVHN, each column labelled with its source, so the synthetic data of the ``quick`` profile can be
checked against SVHN (and, in the ``full`` profile, SVHN's own numbers are computed from the data).
"""
from __future__ import annotations

import numpy as np

from ..report import REPORT_ASPECT_RATIOS, REPORT_SVHN_COUNTS  # the report's Fig. 7 and its counts, real SVHN
from .labels import BLANK, MAX_DIGITS, NUM_CLASSES

#: digits per split as published with SVHN (Netzer et al. 2011, and the dataset's web page)
NETZER_DIGITS = {"train": 73_257, "test": 26_032, "extra": 531_131}
#: what a cell holds when its source does not publish the statistic
NOT_PUBLISHED = "not published"
#: ITU-R BT.601 luma weights of R, G, B (the luminance of the contrast statistic)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SPREAD = ("mean", "25th percentile", "median", "75th percentile")
#: the rows of :func:`house_number_statistics`, in order
STATISTICS = (
    "images", "digits", "images dropped in preparation", "mean digits per image",
    *(f"{k} digit{'s' if k > 1 else ''} (%)" for k in range(1, MAX_DIGITS + 1)),
    *(f"crop aspect ratio: {q}" for q in _SPREAD), *(f"RMS contrast: {q}" for q in _SPREAD),
)


def benford_expectation() -> np.ndarray:
    """Benford's law for a leading digit: ``P(d) = log10(1 + 1/d)`` for ``d = 1..9``, shape (9,)."""
    d = np.arange(1, 10)
    return np.log10(1 + 1 / d)


def digit_histograms(digits: np.ndarray) -> np.ndarray:
    """Counts of each class per position: int array ``(5, 11)``, column 10 = blank.

    ``digits``: ``(N, 5)`` labels with blank = 10.
    """
    digits = np.asarray(digits)
    return np.stack([np.bincount(digits[:, p], minlength=NUM_CLASSES) for p in range(MAX_DIGITS)])


def leading_digit_frequencies(digits: np.ndarray) -> np.ndarray:
    """Observed frequency of leading digits 1-9 (the first position), shape (9,)."""
    first = np.asarray(digits)[:, 0]
    first = first[(first >= 1) & (first <= 9)]
    counts = np.bincount(first, minlength=10)[1:10]
    return counts / max(counts.sum(), 1)


def length_histogram(lengths: np.ndarray) -> np.ndarray:
    """Counts of sequence lengths 0-5, shape (6,)."""
    return np.bincount(np.asarray(lengths), minlength=MAX_DIGITS + 1)[: MAX_DIGITS + 1]


def mean_aspect_ratio(crop_sizes: np.ndarray) -> float:
    """Mean width-to-height ratio of the cropped digit regions (the report's Fig. 7 statistic)."""
    crop_sizes = np.asarray(crop_sizes, dtype=np.float64)
    return float(np.mean(crop_sizes[:, 0] / crop_sizes[:, 1]))


def blank_fraction(digits: np.ndarray) -> np.ndarray:
    """Fraction of blanks at each of the five positions, shape (5,)."""
    return (np.asarray(digits) == BLANK).mean(axis=0)


def _spread(name: str, values: np.ndarray) -> dict:
    """Mean and quartiles of ``values``, keyed as in :data:`STATISTICS`."""
    return dict(zip((f"{name}: {q}" for q in _SPREAD),
                    (float(np.mean(values)), *map(float, np.percentile(values, [25, 50, 75])))))


def house_number_statistics(data, block: int = 1024):
    """Statistics of a prepared house-number split, as a one-column ``pandas.DataFrame`` (column:
    ``data.source``; index: the statistic names below, in this order).

    ``data``: a prepared split (:class:`~digitlib.data.svhn.PreparedSplit`, read ``block``
    samples at a time, so even SVHN's 202,353-image ``extra`` split needs little memory) or a
    :class:`~digitlib.data.DigitSequences` of RGB crops ``(N, H, W, 3)`` uint8 with ``crop_sizes``,
    prepared without a margin. Statistics:

    * ``images``, ``digits``: how many images and digits the split holds after preparation;
      ``images dropped in preparation``: those it left out (more than 5 digits or an impossible
      annotation; the ``dropped_*`` counts of ``data.meta``, 0 when it has none);
    * ``mean digits per image``: ``digits / images``;
    * ``1 digit (%)`` ... ``5 digits (%)``: the share of images of each length;
    * ``crop aspect ratio``: width / height of the crop enclosing all the digit boxes of an image,
      before it is resized to the square (the report's Fig. 7 statistic): mean and quartiles;
    * ``RMS contrast``: the standard deviation of the luminance ``(0.299 R + 0.587 G + 0.114 B) / 255``
      (0 = flat, 0.5 = half black, half white) over the pixels of the resized crop the network
      sees: mean and quartiles across images.

    Raises ``ValueError`` for an empty split, images that are not RGB, missing ``crop_sizes``, or
    crops grown by a margin (their aspect ratio is not the report's statistic).
    """
    import pandas as pd

    n = len(data)
    if n == 0:
        raise ValueError("house_number_statistics needs at least one image, got an empty split")
    lengths, ratios, contrasts = [], [], []
    for start in range(0, n, block):
        batch = data.read(slice(start, min(start + block, n)))
        if batch.images.ndim != 4 or batch.images.shape[3] != 3 or batch.crop_sizes is None:
            raise ValueError(f"{data.source}: house_number_statistics needs RGB crops (N, H, W, 3) with "
                             f"crop_sizes, got images of shape {batch.images.shape[1:]}"
                             + ("" if batch.crop_sizes is not None else " without crop_sizes"))
        if float(batch.meta.get("margin", 0.0)) != 0.0:
            raise ValueError(f"{data.source}: its crops were grown by a margin of {batch.meta['margin']}; the "
                             "crop aspect ratio is the report's statistic only for the tight crop (margin 0)")
        sizes = np.asarray(batch.crop_sizes, dtype=np.float64)
        luminance = batch.images.astype(np.float32) @ (LUMA / 255)
        lengths.append(np.asarray(batch.lengths))
        ratios.append(sizes[:, 0] / sizes[:, 1])
        contrasts.append(luminance.reshape(len(batch), -1).std(axis=1))
    lengths = np.concatenate(lengths)
    counts = np.bincount(lengths, minlength=MAX_DIGITS + 1)
    dropped = sum(int(v) for k, v in batch.meta.items() if k.startswith("dropped_"))
    values = [n, int(lengths.sum()), dropped,
              float(lengths.mean()), *(100 * float(counts[k]) / n for k in range(1, MAX_DIGITS + 1))]
    rows = dict(zip(STATISTICS, values))
    rows.update(_spread("crop aspect ratio", np.concatenate(ratios)))
    rows.update(_spread("RMS contrast", np.concatenate(contrasts)))
    return pd.DataFrame({data.source: pd.Series(rows, index=list(STATISTICS), dtype=object)})


def published_statistics(split: str):
    """The statistics of :func:`house_number_statistics` as published for SVHN's ``split``: a
    two-column ``pandas.DataFrame``, one column per source, :data:`NOT_PUBLISHED` where a source
    does not give the number.

    * the report (Amundson 2017): images and digits per split (quoted from SVHN), the mean digits
      per image derived from them (``digits / images``), and the mean crop aspect ratio (Fig. 7);
      its length histogram (Fig. 6) is a figure without numbers;
    * Netzer et al. (2011), the SVHN paper, and SVHN's web page
      (http://ufldl.stanford.edu/housenumbers/): the digits per split.

    ``split``: ``"train"``, ``"test"`` or ``"extra"`` (``ValueError`` otherwise).
    """
    import pandas as pd

    from .svhn import check_split

    check_split(split)
    counts = REPORT_SVHN_COUNTS[split]
    report = dict.fromkeys(STATISTICS, NOT_PUBLISHED)
    report.update(images=counts["images"], digits=counts["digits"],
                  **{"mean digits per image": counts["digits"] / counts["images"],
                     "crop aspect ratio: mean": REPORT_ASPECT_RATIOS[split]})
    netzer = dict.fromkeys(STATISTICS, NOT_PUBLISHED)
    netzer["digits"] = NETZER_DIGITS[split]
    return pd.DataFrame({f"report (Amundson 2017), SVHN {split}": pd.Series(report, dtype=object),
                         f"SVHN paper and web page (Netzer et al. 2011), {split}": pd.Series(netzer, dtype=object)})


def statistics_table(data, split: str = "train"):
    """:func:`house_number_statistics` of ``data`` beside :func:`published_statistics` of SVHN's
    ``split``: a ``pandas.DataFrame`` with the rows of :data:`STATISTICS` and three columns,
    ``"computed here: <data.source>"`` (numbers this code computed from the data: synthetic house
    numbers in the ``quick`` profile, SVHN itself in ``full``), the report's and the SVHN paper's.
    Counts stay whole numbers; percentages are rounded to 0.1, other numbers to 0.001.
    """
    import pandas as pd

    computed = house_number_statistics(data)
    computed.columns = [f"computed here: {data.source}"]
    table = pd.concat([computed, published_statistics(split)], axis=1)
    return pd.DataFrame({column: [_rounded(row, value) for row, value in table[column].items()]
                         for column in table.columns}, index=table.index, dtype=object)


def _rounded(row: str, value):
    """``value`` for display in row ``row``: text and whole numbers as they are, percentages to 0.1,
    other numbers to 0.001."""
    if isinstance(value, (str, int, np.integer)):
        return value
    return round(float(value), 1 if row.endswith("(%)") else 3)
