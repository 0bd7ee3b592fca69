"""The code registry is complete and truthful, and selection works the way ruff's does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool import InputError, upgrade_text
from upgrade_tool.codes import KNOWN, Code, Fix, Level, all_codes, by_code, lookup
from upgrade_tool.selection import CodeSelection, normalise, unknown_selectors

PACKAGE = Path(__file__).resolve().parents[1] / "upgrade_tool"
CODE_PATTERN = re.compile(r'"((?:E|IO|UP|BN|VL|V0|IN|ST|BIN|DL)\d{3})"')


def test_every_code_is_unique_well_formed_and_explained() -> None:
    seen = set()
    for code in all_codes():
        assert re.fullmatch(r"[A-Z]+\d{3}|V0\d{3}", code.code), code.code
        assert code.code not in seen
        seen.add(code.code)
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", code.name), code.name
        assert code.summary and "\n" not in code.summary
        assert len(code.explanation) > 40, code.code


def test_every_code_the_package_reports_is_in_the_registry() -> None:
    used = {m for path in PACKAGE.rglob("*.py") for m in CODE_PATTERN.findall(path.read_text(encoding="utf-8"))}
    missing = sorted(used - set(by_code()))
    assert not missing, f"reported but not registered: {missing}"


def test_the_list_of_known_codes_is_the_registry() -> None:
    assert tuple(code.code for code in all_codes()) == KNOWN, "paste the registry's codes into codes.KNOWN"


def test_codes_that_need_a_human_are_errors() -> None:
    for code in all_codes():
        if code.needs_human:
            assert code.level is Level.ERROR, code.code


def _examples() -> list[Code]:
    return [code for code in all_codes() if code.before]


@pytest.mark.parametrize("code", _examples(), ids=lambda code: f"{code.code} {code.name}")
def test_each_example_reports_its_code_and_gives_its_after_text(code: Code) -> None:
    if code.family == "E":
        with pytest.raises(InputError) as caught:
            upgrade_text(code.before, strict=True)
        assert caught.value.code == code.code
        return
    result = upgrade_text(code.before, select=["ALL"])
    reported = {f.code for f in result.findings} | {change.code for change in result.changes}
    assert code.code in reported
    if code.fix is Fix.SAFE:  # reported without --fix; applied with it, and then not reported
        assert result.text == code.before
        result = upgrade_text(code.before, select=["ALL"], fix=True)
        assert code.code not in {f.code for f in result.findings}
        assert code.code in {change.code for change in result.changes}
    assert result.text == (code.after or code.before)
    if code.fix is Fix.NONE:  # what changes is an upgrade's doing, not the code's own
        assert not code.after or result.changes


def test_lookup_takes_a_code_in_any_case_or_a_name() -> None:
    assert lookup("bn001") is by_code()["BN001"]
    assert lookup("batchnorm-params") is by_code()["UP005"]
    assert lookup("XX999") is None


SELECTIONS = [
    # (select, extend_select, ignore, code, on)
    pytest.param(None, (), (), "BN001", True, id="on by default"),
    pytest.param(None, (), ("BN",), "BN001", False, id="ignored by prefix"),
    pytest.param(None, (), ("BN00",), "BN001", False, id="ignored by a longer prefix"),
    pytest.param(("BN",), (), (), "UP005", False, id="select replaces the default set"),
    pytest.param(("BN",), (), (), "BN001", True, id="select by prefix"),
    pytest.param(("BN",), (), ("BN001",), "BN001", False, id="the more specific ignore wins"),
    pytest.param(("BN001",), (), ("BN",), "BN001", True, id="the more specific select wins"),
    pytest.param(("BN",), (), ("BN",), "BN001", False, id="on a tie ignore wins"),
    pytest.param(None, ("BN",), (), "UP005", True, id="extend-select keeps the defaults"),
    pytest.param(("ALL",), (), ("UP",), "UP005", False, id="ALL then ignore"),
    pytest.param(("BN",), (), (), "E001", True, id="errors stay on whatever is selected"),
    pytest.param(None, (), ("E001",), "E001", False, id="errors can be ignored"),
]


@pytest.mark.parametrize(("select", "extend", "ignore", "code", "on"), SELECTIONS)
def test_selection(
    select: tuple[str, ...] | None, extend: tuple[str, ...], ignore: tuple[str, ...], code: str, on: bool
) -> None:
    assert CodeSelection(select, extend, ignore).enabled(by_code()[code]) is on


# The command line over the configuration file, as ruff layers them: a `select` replaces
# everything below it (the file's select, extend-select and ignore); extend-select and ignore
# only add to what is below.
LAYERED = [
    # (the file's (select, extend_select, ignore), the command line's, code, on)
    pytest.param((None, (), ("BN001",)), (("BN001",), (), ()), "BN001", True, id="select over the file's ignore"),
    pytest.param((None, (), ("BN001",)), (None, ("BN001",), ()), "BN001", True, id="extend-select over an ignore"),
    pytest.param((("UP",), (), ()), (None, ("BN001",), ()), "BN001", True, id="extend-select adds to the select"),
    pytest.param((("UP",), (), ()), (None, ("BN001",), ()), "UP005", True, id="and keeps the file's select"),
    pytest.param((("BN001",), (), ()), (None, (), ("BN",)), "BN001", False, id="an ignore over the file's select"),
    pytest.param((("UP",), (), ()), (("BN",), (), ()), "UP005", False, id="select replaces the file's select"),
    pytest.param((("UP",), ("BN001",), ()), ((), (), ()), "BN001", False, id="an empty select too"),
    pytest.param((None, (), ("E001",)), (None, (), ()), "E001", False, id="the file decides what is not given"),
    pytest.param((None, (), ("E001",)), (("BN",), (), ()), "E001", True, id="errors stay on under a new select"),
]


@pytest.mark.parametrize(("below", "above", "code", "on"), LAYERED)
def test_the_command_line_is_layered_over_the_file(
    below: tuple[Any, ...], above: tuple[Any, ...], code: str, on: bool
) -> None:
    assert CodeSelection(*above, base=CodeSelection(*below)).enabled(by_code()[code]) is on


def test_per_file_ignores_go_over_every_layer() -> None:
    selection = CodeSelection(("BN001",), base=CodeSelection(None, (), ("UP",))).ignoring(["BN"])
    assert not selection.enabled(by_code()["BN001"])
    assert not selection.enabled(by_code()["UP005"])
    assert selection.enabled(by_code()["E001"])


def test_selectors_are_normalised_and_typos_found() -> None:
    assert normalise(["bn001, BN002", " up "]) == ("BN001", "BN002", "UP")
    assert unknown_selectors(["BN", "XY1", "ALL"]) == ["XY1"]


def test_an_ignored_pass_is_not_applied_and_an_ignored_finding_not_reported() -> None:
    text = by_code()["UP005"].before
    assert upgrade_text(text).changed
    assert not upgrade_text(text, ignore=["UP005"]).changed
    assert not upgrade_text(text, ignore=["up"]).changed
    learnable = by_code()["BN001"].before
    assert upgrade_text(learnable).needs_human
    assert not upgrade_text(learnable, ignore=["BN001"]).needs_human
    assert not upgrade_text(learnable, select=["UP"]).findings


def test_selecting_a_pass_finding_alone_reports_it_without_the_upgrade() -> None:
    learnable = by_code()["BN001"].before
    for select in (["BN001"], ["BN"]):
        result = upgrade_text(learnable, select=select)
        assert [f.code for f in result.findings] == ["BN001"] and result.needs_human
    legacy = by_code()["UP005"].before + by_code()["BN001"].before.replace('"bn', '"bn_b')
    result = upgrade_text(legacy, select=["BN001"])
    assert not result.changed and result.text == legacy  # UP005 is not on: nothing is upgraded


@pytest.mark.parametrize("code", ["BN003", "BN007", "V0001", "V0002"])
def test_a_finding_that_tells_of_an_upgrade_is_not_reported_when_the_upgrade_is_off(code: str) -> None:
    from upgrade_tool.passes import all_passes

    example = by_code()[code]
    assert example.fix is Fix.UPGRADE  # the registry says it tells of what an upgrade did
    upgrade = next(p.code.code for p in all_passes() if code in {f.code for f in p.findings})
    assert code in {f.code for f in upgrade_text(example.before, select=["ALL"]).findings}
    result = upgrade_text(example.before, select=["ALL"], ignore=[upgrade])
    assert code not in {f.code for f in result.findings}
    assert upgrade not in {change.code for change in result.changes}


def test_the_api_refuses_bytes_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="decode UTF-8"):
        upgrade_text(b"name: 'x'")  # type: ignore[arg-type]
