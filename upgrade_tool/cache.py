"""A cache of per-file outcomes, so a second look at an unchanged tree costs almost nothing.

An outcome is stored under the SHA-256 of the file's bytes, in a table whose
name is a fingerprint of everything else that decides an outcome: the tool's
version, the settings (dialect, target, selected codes, ...) and the schema
file given with `--proto` (by its content). A changed byte, setting, schema or
version is a different key, so a stale entry can never be used. The path is
not part of the key: outcomes say nothing about where the file is, and the
runner puts the path back in.

Tables live in one directory (`--cache-dir`, else `BN_UPGRADE_CACHE_DIR`, else
the configuration's `cache-dir`, else the platform's: `$XDG_CACHE_HOME/bn-upgrade`
or `~/.cache/bn-upgrade` on Linux),
one JSON file per fingerprint, written atomically (a temp file beside it, then
a rename). Concurrent runs are safe: each merges what is on disk when it saves,
and a lost race only loses entries, which are computed again. A file that
cannot be read or parsed is ignored and replaced. Nothing here ever raises for
a cache problem: the cache is an optimisation, never a reason to fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENVIRONMENT = "BN_UPGRADE_CACHE_DIR"
FORMAT = 1  # bump when the stored outcome's shape changes
MAX_ENTRIES = 100_000  # per table; the least recently used go first
# An entry's last use is recorded to the day: a second look at an unchanged tree within a day
# rewrites nothing, and the least recently used still go first.
USE_RESOLUTION = 24 * 3600.0


def default_directory() -> Path:
    """Where tables go when neither `--cache-dir` nor BN_UPGRADE_CACHE_DIR says."""
    configured = os.environ.get(ENVIRONMENT)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "bn-upgrade" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "bn-upgrade"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bn-upgrade"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(version: str, settings: Mapping[str, Any]) -> str:
    """One name for one combination of version and settings (JSON-able values)."""
    text = json.dumps({"format": FORMAT, "version": version, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Cache:
    """One table: digest -> outcome (a JSON-able dict). Load once, look up, save once."""

    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"{key}.json"
        self._entries: dict[str, dict[str, Any]] = _load(self.path)
        self._used: dict[str, float] = {}
        self._new: dict[str, dict[str, Any]] = {}

    def get(self, file_digest: str) -> dict[str, Any] | None:
        entry = self._entries.get(file_digest)
        if entry is None:
            return None
        now = time.time()
        used = entry.get("used")
        if not isinstance(used, (int, float)) or not now - USE_RESOLUTION < used <= now:
            self._used[file_digest] = now
        outcome = entry.get("outcome")
        return outcome if isinstance(outcome, dict) else None

    def put(self, file_digest: str, outcome: dict[str, Any]) -> None:
        self._new[file_digest] = outcome
        self._used[file_digest] = time.time()

    def save(self) -> None:
        """Merge with what is on disk now, keep the most recently used, write atomically."""
        if not self._new and not self._used:
            return
        merged = _load(self.path)
        for key, stamp in self._used.items():
            entry = self._new.get(key)
            if entry is not None:
                merged[key] = {"used": stamp, "outcome": entry}
            elif key in merged:
                merged[key]["used"] = stamp
            elif key in self._entries:
                merged[key] = {**self._entries[key], "used": stamp}
        if len(merged) > MAX_ENTRIES:
            newest = sorted(merged.items(), key=lambda item: item[1].get("used", 0), reverse=True)
            merged = dict(newest[:MAX_ENTRIES])
        _write(self.path, {"format": FORMAT, "entries": merged})


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    entries = document.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {key: value for key, value in entries.items() if isinstance(value, dict)}


def _write(path: Path, document: dict[str, Any]) -> None:
    data = json.dumps(document, separators=(",", ":")).encode("utf-8")
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".cache.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
        temp = None
    except OSError:
        pass  # a read-only or full cache directory: the run is simply not cached
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
