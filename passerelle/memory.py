"""Arrow's memory pool, chosen for a daily run that must stay in bounded memory.

pandas 3 keeps its strings in Arrow buffers, so most of the run's memory is allocated by
Arrow's pool. Its default (mimalloc) keeps freed pages for reuse: on a national run the
process then holds the high-water mark of every step at once. jemalloc with a decay of 0
gives freed pages back to the system at once, so the resident size follows the live data.
``PASSERELLE_ARROW_POOL`` chooses: ``jemalloc`` (default), ``mimalloc``, ``system``.
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
        pool = {"jemalloc": pa.jemalloc_memory_pool, "mimalloc": pa.mimalloc_memory_pool,
                "system": pa.system_memory_pool}[choice]()
    except NotImplementedError:  # a pyarrow built without it: keep the default
        return pa.default_memory_pool().backend_name
    pa.set_memory_pool(pool)
    if choice == "jemalloc":
        pa.jemalloc_set_decay_ms(0)
    return pool.backend_name
