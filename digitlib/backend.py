"""Import Keras (TensorFlow backend) without TensorFlow's start-up chatter in notebooks and logs.

TensorFlow's C++ start-up messages ("oneDNN custom operations are on", ...) go straight to file
descriptor 2 and ignore ``TF_CPP_MIN_LOG_LEVEL``, so they would clutter every executed notebook.
:func:`import_keras` silences that descriptor only while TensorFlow loads; errors still raise.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path


def import_keras():
    """Return the ``keras`` module, importing TensorFlow quietly first when it is the backend."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and "tensorflow" not in sys.modules:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            importlib.import_module("tensorflow")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    keras = importlib.import_module("keras")
    _grow_gpu_memory()
    return keras


def _grow_gpu_memory() -> None:
    """Let TensorFlow take GPU memory as it needs it, not all at once, so a notebook and a
    benchmark (or two notebooks) can share a GPU. Nothing happens on a machine without one."""
    if "tensorflow" not in sys.modules:
        return
    tf = sys.modules["tensorflow"]
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is already in use: its memory policy is fixed
            pass


def gpu_count() -> int:
    """Number of GPUs TensorFlow sees (0 on a CPU-only machine or another backend)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return 0
    import_keras()
    return len(sys.modules["tensorflow"].config.list_physical_devices("GPU"))


def auto_precision() -> str:
    """The training precision ``precision="auto"`` chooses: ``mixed_float16`` on a GPU (its tensor
    cores compute float16), ``mixed_bfloat16`` on a CPU that computes bfloat16 natively, else
    ``float32``. The heads always compute in float32."""
    if gpu_count():
        return "mixed_float16"
    return "mixed_bfloat16" if native_bfloat16() else "float32"


def native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 natively (x86 ``avx512_bf16`` or ``amx_bf16``).

    There Keras' ``mixed_bfloat16`` policy trains convolutions about 1.7 times faster than float32
    (measured on a 2-core AMD EPYC); elsewhere bfloat16 is emulated and slower than float32.
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def cpu_description() -> str:
    """The CPU beside every time the book reports, e.g. ``"Intel(R) Xeon(R) Processor, 2 cores,
    AMX + AVX-512 bfloat16"`` or ``"AMD EPYC 9R14, 2 cores, AVX-512 bfloat16"``: numbers are only
    comparable on the same kind of CPU."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        import platform

        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = set((re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M) or [None, ""])[1].split())
    units = " + ".join(name for name, flag in (("AMX", "amx_bf16"), ("AVX-512 bfloat16", "avx512_bf16")) if flag in flags)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join(filter(None, [model[1].strip() if model else "unknown CPU", f"{cores} cores",
                                   units or "no native bfloat16"]))


def device_description() -> str:
    """:func:`cpu_description`, plus the GPUs TensorFlow trains on when there are any."""
    if not gpu_count():
        return cpu_description()
    tf = sys.modules["tensorflow"]
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in tf.config.list_physical_devices("GPU")]
    return f"{cpu_description()}; GPU: {', '.join(names)}"
