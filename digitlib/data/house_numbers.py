"""House numbers for the chapters: synthetic in ``quick``, real SVHN in ``full``, same format."""
from __future__ import annotations

from ..config import active_profile, data_home as _data_home
from .svhn import PreparedSplit, SPLITS, cache_name, cached_prepared_split, check_split, svhn_split
from .synth import GENERATOR_VERSION, generate_split


def synthetic_split(split: str, n: int, seed: int, margin: float = 0.0, data_home=None,
                    progress: bool = True) -> PreparedSplit:
    """A synthetic format-1 split of ``n`` images, generated and prepared once, then cached.

    Folders are keyed by split, size, seed and the generator's version
    (``data/synth/train-4000-s1234-g2/``, :data:`~digitlib.data.synth.GENERATOR_VERSION`), so a
    different profile, seed or generator never reuses stale images; the prepared file
    (``train-4000-s1234-g2_train_54[_m<margin>].h5``) is checked against the folder's
    ``digitStruct.mat`` and prepared again when stale. Generating and preparing hold a file lock
    (``train-4000-s1234-g2.lock``): a second process waits, then reuses the first one's files.
    """
    check_split(split)
    root = _data_home(data_home) / "synth"
    # each split gets its own seed stream, so train and test images differ
    split_seed = seed * 10 + SPLITS.index(split)
    folder = root / f"{split}-{n}-s{seed}-g{GENERATOR_VERSION}"
    return cached_prepared_split(
        folder, root / f"{folder.name}_{cache_name(split, margin)}", margin, progress,
        source_label=f"synthetic house numbers ({split}, {n} images, seed {seed})",
        generate=lambda: generate_split(folder, n, seed=split_seed, progress=progress),
        lock_path=root / f"{folder.name}.lock",
    )


def house_numbers(split: str = "train", margin: float = 0.0, profile=None, data_home=None,
                  progress: bool = True) -> PreparedSplit:
    """The house-number split the active profile uses, prepared to 54x54 crops with boxes.

    * ``quick``: synthetic house numbers (``profile.synth_images[split]`` images), made offline.
    * ``full``: the real SVHN format-1 split; raises :class:`~digitlib.data.DataMissingError` with
      the fetch command when it has not been downloaded.

    Returns a :class:`~digitlib.data.svhn.PreparedSplit`; call ``.load()`` for the arrays or
    ``.batches()`` to stream them. ``margin`` grows the crop around the digits (0.3 = Goodfellow's 30%).
    ``split`` must be one of ``SPLITS`` (``ValueError`` otherwise).
    """
    check_split(split)
    profile = profile or active_profile()
    if profile.house_numbers_source == "synthetic":
        n = profile.synth_images.get(split, 0)
        if n <= 0:
            raise ValueError(f"the {profile.name} profile generates no synthetic {split!r} images")
        return synthetic_split(split, n, profile.seed, margin, data_home, progress)
    return svhn_split(split, margin, data_home, progress)
