"""Atomic publication of one day's folder.

Everything of a run is written into a staging folder on the same filesystem as the output
(``<out>/.staging/<D>-<run id>/``), validated, fsynced, then moved into place with
``rename``. A crash at any point leaves either the previous state of ``<out>/<D>/`` or the new
one, never a mix:

- before the move, ``<out>/<D>/`` is untouched (a failed run leaves only a staging folder,
  removed by the next run);
- re-running a date on Linux: the staging folder and ``<out>/<D>/`` are exchanged in one
  system call (``renameat2(RENAME_EXCHANGE)``), so ``<out>/<D>/`` is the old folder or the new
  one at every instant; the old one, now at the staging path, is then deleted;
- elsewhere (or on a filesystem without the exchange): the old ``<out>/<D>/`` is first renamed
  into ``<out>/.trash/`` and the staging folder renamed to ``<out>/<D>/``; if the process dies
  between the two renames, ``<out>/<D>/`` is briefly missing and the next run puts the old
  folder back before doing anything (``recover``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
from datetime import date
from pathlib import Path

STAGING = ".staging"
TRASH = ".trash"


class UnsafePathError(ValueError):
    """A path would land outside the output folder."""


def day_dir(out_dir: Path, run_date: date) -> Path:
    return Path(out_dir) / run_date.isoformat()


def staging_dir(out_dir: Path, run_date: date, run_id: str) -> Path:
    safe_run = "".join(c for c in run_id if c.isalnum() or c == "-")[:64]
    return Path(out_dir) / STAGING / f"{run_date.isoformat()}-{safe_run}"


def inside(base: Path, relative: str | Path) -> Path:
    """``base / relative``, refusing absolute paths, ``..`` and anything resolving outside."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise UnsafePathError(f"refusing path {relative!r} outside {base}")
    target = (Path(base) / rel).resolve()
    root = Path(base).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"refusing path {relative!r} outside {base}")
    return target


def recover(out_dir: Path, run_date: date) -> bool:
    """Put back a day folder left in the trash by a crash between the two renames.

    Returns True when something was restored. Also removes stale staging folders of that date.
    """
    out_dir = Path(out_dir)
    restored = False
    final = day_dir(out_dir, run_date)
    trash = out_dir / TRASH
    if trash.is_dir():
        olds = sorted(trash.glob(f"{run_date.isoformat()}-*"))
        if olds and not final.exists():
            os.replace(olds[-1], final)
            _fsync_dir(out_dir)
            restored = True
            olds = olds[:-1]
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)
    return restored


def clean_stale_staging(out_dir: Path, run_date: date, keep: Path | None = None) -> None:
    staging_root = Path(out_dir) / STAGING
    if not staging_root.is_dir():
        return
    for p in staging_root.glob(f"{run_date.isoformat()}-*"):
        if keep is not None and p.resolve() == Path(keep).resolve():
            continue
        shutil.rmtree(p, ignore_errors=True)


def fsync_tree(root: Path) -> None:
    """fsync every file then every folder below ``root`` (folders bottom-up)."""
    dirs = []
    for dirpath, _dirnames, filenames in os.walk(root):
        dirs.append(dirpath)
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for d in reversed(dirs):
        _fsync_dir(Path(d))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


fsync_path = _fsync_dir  # a file or a folder: what current/ and file:// deliveries make durable


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_exchange_fn = None


def _renameat2():
    global _exchange_fn
    if _exchange_fn is None:
        fn = False
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):  # glibc < 2.28, musl without it
                fn = False
        _exchange_fn = fn
    return _exchange_fn or None


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    False when the platform or the filesystem cannot (the caller falls back to two renames);
    raises OSError on a real failure."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def commit(staging: Path, out_dir: Path, run_date: date, *, crash_hook=None) -> Path:
    """Move the staged day folder into place atomically; returns the final path.

    ``crash_hook(point)`` is called at each step (tests use it to simulate a crash): points
    ``before-fsync``, ``before-swap``, ``between-renames`` (fallback path only) and
    ``after-swap``.
    """
    hook = crash_hook or (lambda point: None)
    out_dir = Path(out_dir)
    staging = Path(staging)
    final = day_dir(out_dir, run_date)
    hook("before-fsync")
    fsync_tree(staging)
    hook("before-swap")
    if final.exists() and exchange(staging, final):
        # ``final`` is the new folder, ``staging`` now holds the old one: a crash from here on
        # leaves the new day in place and a stale staging folder, removed by the next run.
        _fsync_dir(out_dir)
        _fsync_dir(staging.parent)
        hook("after-swap")
        shutil.rmtree(staging, ignore_errors=True)
        return final
    old = None
    if final.exists():
        trash = out_dir / TRASH
        trash.mkdir(parents=True, exist_ok=True)
        old = trash / f"{run_date.isoformat()}-{staging.name}"
        os.replace(final, old)
        hook("between-renames")
    os.replace(staging, final)
    _fsync_dir(out_dir)
    hook("after-swap")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
