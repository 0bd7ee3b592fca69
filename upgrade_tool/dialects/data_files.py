"""Read the dialects' package data (`upgrade_tool/dialects/data/`), built by `proto/build_dialects.py`."""

from __future__ import annotations

from importlib import resources

PACKAGE = "upgrade_tool.dialects"
DATA_DIR = "data"


def read_bytes(name: str) -> bytes:
    """The bytes of one data file, wherever the package is installed (a wheel, a zip, a checkout)."""
    return resources.files(PACKAGE).joinpath(DATA_DIR).joinpath(name).read_bytes()


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")


def read_tsv(name: str) -> list[dict[str, str]]:
    """Rows of a tab-separated table with a header line; no quoting (the facts have none)."""
    return parse_tsv(read_text(name))


def parse_tsv(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ValueError(f"line {number}: {len(cells)} cells, the header has {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
    return rows
