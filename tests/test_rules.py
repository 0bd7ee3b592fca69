"""The lint rules, case by case: `tests/rule_cases/CODE.txt` holds each rule's flagged and passed nets side by side.

A case file is a list of cases. Each starts with `=== what it shows`, then
`flags:` with the names of the BatchNorm layers the rule reports, in order (or
`none`), optional `target:`, `dialect:` and `kind:` lines, a `---` line and the
input. A flagged case of a rule with a safe fix ends with `--- fixed` and the
exact text `--fix` makes of the input. Every case runs with the upgrade passes
and that one rule selected; the fixed text must itself pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from upgrade_tool import upgrade_text
from upgrade_tool.codes import Fix, by_code
from upgrade_tool.dialects import all_dialects, get_dialect
from upgrade_tool.rules import RULE_ORDER, all_rules
from upgrade_tool.rules.batchnorm_facts import OWN_AFFINE, eps_floor, float32, forks_knowing, stored_statistics_in_test

CASES = Path(__file__).resolve().parent / "rule_cases"
LAYER_NAME = re.compile(r"^BatchNorm '([^']*)'")
OPTIONS = ("target", "dialect", "kind")


class RuleCase(NamedTuple):
    code: str
    title: str
    flags: tuple[str, ...]
    options: dict[str, str]
    before: str
    fixed: str | None


def read_cases(path: Path) -> list[RuleCase]:
    cases = []
    for chunk in re.split(r"^=== ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title, _, rest = chunk.partition("\n")
        header, _, body = rest.partition("---\n")
        before, marker, fixed = body.partition("--- fixed\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines() if line.strip())
        flags = fields.pop("flags")
        assert set(fields) <= set(OPTIONS), f"{path.name}: {title}: unknown option"
        names = () if flags == "none" else tuple(flags.split())
        fixed_text = fixed.rstrip("\n") + "\n" if marker else None
        cases.append(RuleCase(path.stem, title, names, fields, before.rstrip("\n") + "\n", fixed_text))
    return cases


def all_cases() -> list[Any]:
    return [
        pytest.param(case, id=f"{case.code} {case.title}")
        for path in sorted(CASES.glob("*.txt"))
        for case in read_cases(path)
    ]


def flagged(case: RuleCase, text: str, **extra: Any) -> tuple[list[str], Any]:
    result = upgrade_text(text, select=["UP", case.code], **case.options, **extra)  # type: ignore[arg-type]
    names = []
    for finding in result.findings:
        if finding.code == case.code:
            match = LAYER_NAME.match(finding.message)
            assert match, finding.message
            names.append(match[1])
    return names, result


@pytest.mark.parametrize("case", all_cases())
def test_rule_case(case: RuleCase) -> None:
    names, result = flagged(case, case.before)
    assert tuple(names) == case.flags
    code = by_code()[case.code]
    if code.fix is not Fix.SAFE or not case.flags:
        assert case.fixed is None, "only a flagged case of a fixable rule has a fixed text"
        assert case.code not in {change.code for change in result.changes}
        return
    assert case.fixed is not None, "a flagged case of a fixable rule says what --fix makes of it"
    names, fixed = flagged(case, case.before, fix=True)
    assert not names
    assert case.code in {change.code for change in fixed.changes}
    assert fixed.text == case.fixed
    assert flagged(case, fixed.text)[0] == []


def test_every_rule_has_cases_of_both_kinds() -> None:
    cases = [case for path in CASES.glob("*.txt") for case in read_cases(path)]
    for rule in all_rules():
        mine = [case for case in cases if case.code == rule.code.code]
        assert any(case.flags for case in mine), f"{rule.code.code} has no flagged case"
        assert any(not case.flags for case in mine), f"{rule.code.code} has no passed case"


def test_rules_run_in_the_registered_order_with_one_module_each() -> None:
    assert [rule.code.code for rule in all_rules()] == ["BN005", "BN101", "BN102", "BN103", "BN104", "BN105", "BN106"]
    assert len(set(RULE_ORDER)) == len(RULE_ORDER)


# Nets every rule must read without failing: a pre-V2 fork's V1 net (its own layer message, no `layer`
# field), TEST-only layers, nets inside a solver, a net with no layers at all.
ODD_INPUTS = [
    pytest.param(
        'layers { name: "data" type: IMAGE_SEG_DATA top: "data" top: "label" }\n'
        'layers { name: "bn" type: BN bottom: "data" top: "bn" }\n'
        'layers { name: "loss" type: SOFTMAX_LOSS bottom: "bn" bottom: "label" }\n',
        {"dialect": "deconvnet"},
        id="a pre-V2 fork's V1 net with its own BN layer",
    ),
    pytest.param(
        'layers { name: "data" type: IMAGE_SEG_DATA top: "data" top: "label" }\n'
        'layers { name: "interp" type: INTERP bottom: "data" top: "i" }\n',
        {"dialect": "deeplab-context"},
        id="a pre-V2 fork's V1 net without batch normalisation",
    ),
    pytest.param(
        'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" include { phase: TEST }\n'
        "  batch_norm_param { use_global_stats: false eps: 0 moving_average_fraction: 2 } }\n",
        {},
        id="a fragment whose only layer is kept to TEST",
    ),
    pytest.param(
        'net_param { layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" } }\n'
        'test_net_param { layer { name: "bn" type: "BatchNorm" batch_norm_param { use_global_stats: false } } }\n',
        {"kind": "solver"},
        id="nets inside a solver",
    ),
    pytest.param('name: "empty"\n', {}, id="a net without layers"),
    pytest.param('layer { name: "bn" type: "BatchNorm" }\n', {"target": "segnet"}, id="a target with no BatchNorm"),
]


@pytest.mark.parametrize(("text", "options"), ODD_INPUTS)
@pytest.mark.parametrize("selection", [["ALL"], [rule.code.code for rule in all_rules()]], ids=["all", "rules only"])
def test_odd_inputs_do_not_trip_a_rule(text: str, options: dict[str, str], selection: list[str]) -> None:
    for fix in (False, True):
        result = upgrade_text(text, select=selection, fix=fix, unsafe_fixes=fix, **options)  # type: ignore[arg-type]
        assert all(finding.line > 0 for finding in result.findings)


def test_findings_point_at_the_field_they_are_about_and_at_the_layer_otherwise() -> None:
    text = (
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 } } }\n'
        'layer { name: "bn1" type: "BatchNorm" bottom: "data" top: "bn1"\n'
        "  batch_norm_param {\n"
        "    use_global_stats: false\n"
        "  }\n"
        "}\n"
        'layer { name: "relu" type: "ReLU" bottom: "bn1" top: "bn1" }\n'
    )
    result = upgrade_text(text, select=["BN101", "BN104"])
    assert [(f.code, f.line, f.column) for f in result.findings] == [("BN101", 4, 5), ("BN104", 2, 1)]


def test_findings_after_a_fix_are_placed_in_the_input() -> None:
    line = 'layer { name: "bn" type: "BatchNorm" batch_norm_param { use_global_stats: 0 moving_average_fraction: 2 } }'
    text = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 } } }\n' + line + "\n"
    result = upgrade_text(text, select=["BN101", "BN106"], fix=True)
    assert [(change.code, change.line, change.column) for change in result.changes] == [
        ("BN101", 2, line.index(": 0") + 3)
    ]
    assert [(f.code, f.line, f.column) for f in result.findings] == [
        ("BN106", 2, line.index("moving_average_fraction") + 1)
    ]


def test_the_rules_on_by_default_are_those_that_flag_nothing_correct_in_the_corpora() -> None:
    on = {rule.code.code for rule in all_rules() if rule.code.default}
    assert on == {"BN005", "BN101", "BN102", "BN105", "BN106"}
    frozen = by_code()["BN103"].before
    assert "BN103" not in {f.code for f in upgrade_text(frozen).findings}
    assert "BN103" in {f.code for f in upgrade_text(frozen, select=["BN103"]).findings}


def test_a_safe_fix_waits_for_fix_and_comes_with_unsafe_fixes_too() -> None:
    text = by_code()["BN101"].before
    assert upgrade_text(text).text == text
    assert upgrade_text(text, fix=True).text == by_code()["BN101"].after
    assert upgrade_text(text, unsafe_fixes=True).text == by_code()["BN101"].after


def test_the_roles_of_a_solvers_nets_are_reported() -> None:
    text = (
        'train_net_param { layer { name: "d" type: "Data" top: "d" } }\n'
        'test_net_param { layer { name: "d" type: "Data" top: "d" } layer { name: "l" type: "EuclideanLoss" } }\n'
    )
    roles = upgrade_text(text, kind="solver").roles
    assert [role for role, _ in roles] == ["train", "test"]
    assert "test_net_param" in roles[1][1]


def test_the_runtime_facts_come_from_batchnorm_tsv() -> None:
    nvcaffe = get_dialect("nvcaffe")
    assert stored_statistics_in_test(nvcaffe) == "src/caffe/layers/batch_norm_layer.cpp:177"
    assert eps_floor(nvcaffe) == (float32(1e-5), "src/caffe/layers/batch_norm_layer.cpp:24")
    others = [dialect for dialect in all_dialects() if dialect.name != "nvcaffe"]
    assert not any(stored_statistics_in_test(dialect) or eps_floor(dialect) for dialect in others)
    assert forks_knowing("update_global_stats") == ("deeplab", "pspnet")


@pytest.mark.parametrize("name", sorted(OWN_AFFINE))
def test_each_own_affine_entry_is_a_row_with_learnable_scale_and_bias(name: str) -> None:
    affine = OWN_AFFINE[name]
    rows = [row for row in get_dialect(name).batchnorm() if row.type_name == "BatchNorm" and row.learnable_blobs]
    learning = [row for row in rows if not row.learnable_blobs.startswith("none")]
    assert learning, name
    fields = get_dialect(name).schema().net.DESCRIPTOR.fields_by_name["layer"].message_type
    param = fields.fields_by_name["batch_norm_param"].message_type.fields_by_name
    for switch in (*affine.switches, *filter(None, [affine.off])):
        assert switch in param, switch
        assert any(switch in row.condition for row in learning), switch
    for engine in affine.engines:
        assert any(engine in row.engines for row in learning), engine
