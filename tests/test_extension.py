"""The C fast path (`upgrade_tool/_fastread.c`) is built and loaded wherever it can be.

Its build is optional, so a failed build is silent at install time: this test is
what notices. Where a C compiler and the Python headers are (as in CI), the
package the tests import must have it; tests/test_fastread.py then compares it
with the Python code, and skips, saying so, only where it cannot be built.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import pytest

from upgrade_tool import reader


def can_build() -> bool:
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return bool(shutil.which("cc") or shutil.which("gcc")) and headers.is_file()


def test_the_fast_path_is_built_and_loaded_where_it_can_be() -> None:
    if os.environ.get("BN_UPGRADE_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("BN_UPGRADE_PURE_PYTHON is set: the fast path is turned off")
    if not can_build():
        pytest.skip("no C compiler or no Python headers here: the pure-Python reader reads everything")
    assert reader.FASTREAD is not None, f"upgrade_tool/_fastread.c was not built for {reader.__file__}"
