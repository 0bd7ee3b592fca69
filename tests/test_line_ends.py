"""LF, CRLF and lone-CR line ends: an upgrade keeps the file's own, and leaves no empty line behind.

A lone CR (old Mac files) ends a line for the layout rules, but, as in Caffe's
parser, not a `#` comment: that runs to the next LF, so an edit never moves
text into or out of one (issue 9, item 17: removing a block under lone-CR
line ends left an empty CR line).
"""

from __future__ import annotations

import pytest

from upgrade_tool import upgrade_text
from upgrade_tool.edits import newline_of, start_of_line

LEGACY = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n}\n'
STRIPPED = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n}\n'
ZEROED = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  param { lr_mult: 0 decay_mult: 0 }\n}\n'
V0 = 'input: "a"\nlayers {\n  layer {\n    name: "c"\n    type: "conv"\n    num_output: 2\n  }\n  bottom: "a"\n}\n'
V1_OF_V0 = (
    'layer {\n  name: "c"\n  type: "Convolution"\n  convolution_param {\n    num_output: 2\n  }\n  bottom: "a"\n}\n'
)
DATA = 'layers {\n  name: "d"\n  type: DATA\n  data_param {\n    source: "x"\n    scale: 0.5\n  }\n}\n'
DATA_UPGRADED = (
    'layer {\n  name: "d"\n  type: "Data"\n  data_param {\n    source: "x"\n  }\n'
    "  transform_param {\n    scale: 0.5\n  }\n}\n"
)
CASES = [
    ("strip", LEGACY, STRIPPED),
    ("zero", LEGACY, ZEROED),
    ("strip", V0, V1_OF_V0),
    ("strip", DATA, DATA_UPGRADED),
]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "lone CR"])
@pytest.mark.parametrize(("style", "before", "after"), CASES, ids=["removed block", "zeroed", "V0 layer", "data layer"])
def test_an_upgrade_keeps_the_line_ends_and_leaves_no_empty_line(
    newline: str, style: str, before: str, after: str
) -> None:
    result = upgrade_text(before.replace("\n", newline), bn_style=style)
    assert result.text == after.replace("\n", newline)


def test_a_comment_under_lone_cr_runs_to_the_end_and_stays_there() -> None:
    # Caffe's parser reads everything after the `#` as comment: the upgrade must too.
    text = LEGACY.replace("\n", "\r") + "# the end\r  param { lr_mult: 1 }\r"
    assert upgrade_text(text).text == STRIPPED.replace("\n", "\r") + "# the end\r  param { lr_mult: 1 }\r"


@pytest.mark.parametrize(
    ("text", "newline"),
    [
        pytest.param("a: 1\nb: 2\r\n", "\n", id="LF"),
        pytest.param("a: 1\r\nb: 2\n", "\r\n", id="CRLF"),
        pytest.param("a: 1\rb: 2\r", "\r", id="lone CR"),
        pytest.param("a: 1\rb: 2\n", "\n", id="a lone CR before an LF: a comment would run on, so LF"),
        pytest.param("a: 1\rb: 2\r\n", "\r\n", id="a lone CR before a CRLF"),
        pytest.param("a: 1", "\n", id="one line"),
    ],
)
def test_the_file_newline_is_the_end_of_its_first_line(text: str, newline: str) -> None:
    assert newline_of(text) == newline


@pytest.mark.parametrize(
    ("text", "offset", "start"),
    [
        pytest.param("ab\ncd", 4, 3, id="after an LF"),
        pytest.param("ab\r\ncd", 5, 4, id="after a CRLF"),
        pytest.param("ab\rcd", 4, 3, id="after a lone CR"),
        pytest.param("abcd", 2, 0, id="the first line"),
    ],
)
def test_a_line_starts_after_any_line_end(text: str, offset: int, start: int) -> None:
    assert start_of_line(text, offset) == start


def test_a_file_mixing_lone_cr_and_lf_is_upgraded_with_lf() -> None:
    # The C++ differential fuzzer found it: the first line ended in a lone CR, so the new
    # Input layer was written with lone CRs, and the comment moved with it swallowed the
    # rest of the layer (exit 123).
    text = 'layer { top: "a"\r}\ninput: "data" ; # its comment\ninput_shape { dim: 1 }\n'
    result = upgrade_text(text)
    assert result.changed and "\r" not in result.text.replace('"a"\r}', "")
    assert "# its comment" in result.text


def test_a_field_added_after_a_commented_line_goes_after_the_whole_comment() -> None:
    # A CR inside a comment does not end it (Caffe reads to the LF): the new field goes after the LF.
    text = 'layer {\n  type: "BatchNorm"\n  param {\n    lr_mult: 0  # a \r b\n  }\n}\n'
    expected = 'layer {\n  type: "BatchNorm"\n  param {\n    lr_mult: 0  # a \r b\n    decay_mult: 0\n  }\n}\n'
    assert upgrade_text(text, bn_style="zero").text == expected


def test_a_position_is_the_same_found_by_counting_lines_or_by_the_line_index() -> None:
    """The first few positions of a file count the lines before them; later ones use an index built once."""
    from upgrade_tool.source import Source

    text = "a: 1\n\nlayer {\r\n  name: 'x'\r}\n" * 7 + "tail"
    offsets = [0, 1, 4, 5, 6, len(text) - 1, len(text), *range(0, len(text), 3)]
    counting, indexed = Source(text), Source(text)
    indexed._counted = 1 << 30  # the index from the first position on
    for offset in offsets:
        expected = (text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1)
        assert counting.position(offset) == indexed.position(offset) == expected, offset
