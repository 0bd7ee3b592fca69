"""The detection index, `data/index.json`: which dialects know each key, built by `proto/build_dialects.py`.

- `keys`: "owner<TAB>field" for every field of every message of every dialect, and
  "owner<TAB>field<TAB>value" for every value (name and decimal number) of every
  enum-typed field, and "owner<TAB>field<TAB>[]" for every repeated field -> a bit
  mask of the dialects that know it (bit i: `dialects[i]`); `owner` is the
  message's role name (see `keys.role_name`).
- `types`: "owner<TAB>field" of every message-typed field -> the role name of its
  message type, where all dialects that have the field agree on it (so the fields
  inside a node BVLC does not know can still be keyed).
- `vocabulary`: per dialect, how many keys it knows that BVLC does not.

Read once per process, and only when a file has unknown nodes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass

from upgrade_tool.dialects.data_files import read_bytes

INDEX_FORMAT = 1

Key = tuple[str, str] | tuple[str, str, str]


@dataclass(frozen=True)
class Index:
    dialects: tuple[str, ...]  # bit i of a mask is dialects[i]
    vocabulary: tuple[int, ...]  # keys each dialect knows beyond BVLC
    masks: Mapping[str, int]  # "owner\tfield[\tvalue]" -> the dialects that know it
    types: Mapping[str, str]  # "owner\tfield" -> role name of the field's message type

    def mask(self, key: Key) -> int:
        return self.masks.get("\t".join(key), 0)

    def knowing(self, key: Key) -> tuple[str, ...]:
        mask = self.mask(key)
        return tuple(name for bit, name in enumerate(self.dialects) if mask >> bit & 1)

    def field_type(self, owner: str, field: str) -> str | None:
        return self.types.get(f"{owner}\t{field}")


@functools.cache
def load_index() -> Index:
    """The shipped index (read and parsed on the first call only)."""
    data = json.loads(read_bytes("index.json"))
    if data.get("format") != INDEX_FORMAT:
        raise ValueError(f"index.json: format {data.get('format')!r}, expected {INDEX_FORMAT}")
    return Index(tuple(data["dialects"]), tuple(data["vocabulary"]), data["keys"], data["types"])
