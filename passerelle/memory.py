"""Arrow's memory pool, chosen for a daily run that must stay in bounded memory.

pandas 3 keeps its strings in Arrow buffers, so most of the run's memory is allocated by
Arrow's pool. Its default (mimalloc) keeps freed pages for reuse: on a national run the
process then holds the high-water mark of every step at once. jemalloc with a decay of 0
gives freed pages back to the system at once, so the resident size follows the live data.
``PASSERELLE_ARROW_POOL`` chooses: ``jemalloc`` (default), ``mimalloc``, ``system``.

What pandas and numpy free goes back to glibc's heap, which keeps it: :func:`release_freed_memory`
(after each step of the daily job, see ``pipelines/hooks.py``) hands it back to the system.
"""

from __future__ import annotations

import os

POOLS = ("jemalloc", "mimalloc", "system")


def configure_arrow_pool() -> str:
    """Install the chosen pool as Arrow's default; returns the backend in use."""
    import pyarrow as pa

    choice = os.environ.get("PASSERELLE_ARROW_POOL", "jemalloc").strip().lower() or "jemalloc"
    if choice not in POOLS:
        raise ValueError(f"PASSERELLE_ARROW_POOL={choice!r}: expected one of {', '.join(POOLS)}")
    try:
        pool = {
            "jemalloc": pa.jemalloc_memory_pool,
            "mimalloc": pa.mimalloc_memory_pool,
            "system": pa.system_memory_pool,
        }[choice]()
    except NotImplementedError:  # a pyarrow built without it: keep the default
        return pa.default_memory_pool().backend_name
    pa.set_memory_pool(pool)
    if choice == "jemalloc":
        pa.jemalloc_set_decay_ms(0)
    return pool.backend_name


def release_freed_memory(collect_above_mb: int = 1024) -> int:
    """Give the memory freed by the last step back to the system; returns the resident size
    (MB) after. glibc's ``malloc_trim``: pandas and numpy allocate through glibc, which keeps
    freed heap pages (a million-row step leaves gigabytes behind otherwise: measured 986 MB ->
    222 MB after the SAM reader of a national file). Above ``collect_above_mb`` resident,
    Python's cycle collector runs first (0.2 s with Dagster and GX loaded: not worth it on a
    small day). A no-op where glibc is not the allocator."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    resident = resident_mb()
    if resident > collect_above_mb:
        import gc

        gc.collect()
        if trim is not None:
            trim(0)
        resident = resident_mb()
    return resident


def resident_mb() -> int:
    """This process's resident size in MB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _malloc_trim():
    import ctypes
    import ctypes.util

    global _TRIM
    if _TRIM is None:
        _TRIM = False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _TRIM = getattr(libc, "malloc_trim", False) if libc is not None else False
        except OSError:
            _TRIM = False
    return _TRIM or None


_TRIM = None
