"""The outcome cache keeps what it is given, under the exact key, and never fails a run."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from upgrade_tool.cache import ENVIRONMENT, FORMAT, Cache, default_directory, digest, fingerprint


def test_an_outcome_is_kept_by_content_digest(tmp_path: Path) -> None:
    key = fingerprint("1.0", {"bn_style": "strip"})
    cache = Cache(tmp_path, key)
    assert cache.get(digest(b"net")) is None
    cache.put(digest(b"net"), {"status": "up_to_date"})
    cache.save()
    again = Cache(tmp_path, key)
    assert again.get(digest(b"net")) == {"status": "up_to_date"}
    assert again.get(digest(b"net ")) is None


def test_a_changed_version_or_setting_is_another_table() -> None:
    base = fingerprint("1.0", {"bn_style": "strip", "select": ["BN"]})
    assert fingerprint("1.1", {"bn_style": "strip", "select": ["BN"]}) != base
    assert fingerprint("1.0", {"bn_style": "zero", "select": ["BN"]}) != base
    assert fingerprint("1.0", {"select": ["BN"], "bn_style": "strip"}) == base  # key order does not matter


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[1, 2]", json.dumps({"format": FORMAT + 1, "entries": {}}).encode(), b'{"format": 1}'],
    ids=["empty", "garbage", "not an object", "another format", "no entries"],
)
def test_a_corrupt_table_is_ignored_and_replaced(tmp_path: Path, content: bytes) -> None:
    key = fingerprint("1.0", {})
    (tmp_path / f"{key}.json").write_bytes(content)
    cache = Cache(tmp_path, key)
    assert cache.get(digest(b"x")) is None
    cache.put(digest(b"x"), {"status": "failed"})
    cache.save()
    assert Cache(tmp_path, key).get(digest(b"x")) == {"status": "failed"}


def test_two_runs_saving_one_table_keep_both_their_entries(tmp_path: Path) -> None:
    key = fingerprint("1.0", {})
    first, second = Cache(tmp_path, key), Cache(tmp_path, key)
    first.put(digest(b"a"), {"n": 1})
    second.put(digest(b"b"), {"n": 2})
    first.save()
    second.save()
    merged = Cache(tmp_path, key)
    assert (merged.get(digest(b"a")), merged.get(digest(b"b"))) == ({"n": 1}, {"n": 2})


def test_a_second_look_the_same_day_rewrites_nothing_and_an_old_entry_is_marked_used(tmp_path: Path) -> None:
    key = fingerprint("1.0", {})
    first = Cache(tmp_path, key)
    first.put(digest(b"new"), {"n": 1})
    first.put(digest(b"old"), {"n": 2})
    first.save()
    table = tmp_path / f"{key}.json"
    document = json.loads(table.read_bytes())
    document["entries"][digest(b"old")]["used"] = 0  # last used long ago
    table.write_text(json.dumps(document))
    before = table.stat().st_mtime_ns
    same_day = Cache(tmp_path, key)
    assert same_day.get(digest(b"new")) == {"n": 1}
    same_day.save()
    assert table.stat().st_mtime_ns == before  # nothing new to record: not rewritten
    later = Cache(tmp_path, key)
    assert later.get(digest(b"old")) == {"n": 2}
    later.save()
    assert json.loads(table.read_bytes())["entries"][digest(b"old")]["used"] > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_cache_directory_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        cache = Cache(tmp_path / "cache", fingerprint("1.0", {}))
        cache.put(digest(b"x"), {"status": "up_to_date"})
        cache.save()  # nothing to raise: the run is simply not cached
    finally:
        tmp_path.chmod(stat.S_IRWXU)
    assert not (tmp_path / "cache").exists()


def test_saving_leaves_no_temp_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path, fingerprint("1.0", {}))
    cache.put(digest(b"x"), {})
    cache.save()
    assert [path.suffix for path in tmp_path.iterdir()] == [".json"]


def test_the_directory_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENVIRONMENT, str(tmp_path / "mine"))
    assert default_directory() == tmp_path / "mine"
    monkeypatch.delenv(ENVIRONMENT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_directory() in (tmp_path / "xdg" / "bn-upgrade", Path.home() / "Library" / "Caches" / "bn-upgrade")
