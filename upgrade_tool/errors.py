"""Errors raised by the pure core, each pinned to a place in the input text, and their codes."""

from __future__ import annotations

from upgrade_tool.codes import Code, Level


class InputError(Exception):
    """The input cannot be read as a Caffe net or solver.

    `offset` is a character offset into the decoded text; the CLI turns it into
    `PATH:LINE:COL` with `Source.position`. `code` is one of `CODES` below.
    """

    def __init__(self, message: str, offset: int = 0, code: str = "E001") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.code = code
        self.line = 0  # filled in by whoever knows the text (1-based)
        self.column = 0


class SelfCheckError(Exception):
    """The tool's own output failed its proof (a bug in bn-upgrade, not in the input)."""


def _error(code: str, name: str, summary: str, explanation: str, before: str) -> Code:
    return Code(code, name, summary, explanation, before, "", Level.ERROR, needs_human=False)


# Input errors: the file is reported as failed (exit 2) and left as it is.
CODES = (
    _error(
        "E001",
        "syntax-error",
        "the text is not protobuf text format",
        "Caffe reads prototxt with protobuf's text parser; bn-upgrade reads it the same way and stops at the "
        "first place that parser would refuse: a missing ':' or brace, an unterminated string, a stray "
        "character. The message names the line and column. Template files with placeholders (`num_output: "
        "$N`) are not prototxt until they are filled in; exclude them or ignore E001 for them.",
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  convolution_param { num_output 16 }\n}\n',
    ),
    _error(
        "E002",
        "unknown-field",
        "a field the schema in use does not know",
        "With `--strict`, `--format canonical`, or a dialect named by `--dialect`, every field must be one "
        "that schema defines; a misspelt name is reported with the closest known name. Without those, fields "
        "that some Caffe fork defines are kept as written (DL001) and fields no known dialect defines are "
        "findings (DL002).",
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  convolution_param { num_ouput: 16 }\n}\n',
    ),
    _error(
        "E003",
        "invalid-value",
        "a value of the wrong type, out of range, or given twice",
        "Each value must fit its field as protobuf's parser reads it: an integer field takes an integer in "
        "range (`num_output: -0` is refused for an unsigned field), an enum field one of its names or numbers, "
        "a string field a quoted string; a field that is not repeated is given once; required fields are "
        "present.",
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  convolution_param { num_output: 1.5 }\n}\n',
    ),
    _error(
        "E004",
        "not-utf8",
        "the text is not UTF-8",
        "Prototxt is UTF-8 text. Bytes that are not UTF-8 are allowed inside comments (Caffe skips them and "
        "bn-upgrade keeps them byte for byte); anywhere else, and inside strings, they are an error. A file "
        "that is really a binary model should be named `.caffemodel`.",
        "",
    ),
    _error(
        "E005",
        "invalid-net",
        "a net or solver Caffe would refuse or crash on",
        "Some inputs parse but cannot be upgraded because Caffe itself refuses them or misreads them: a net "
        "with both `layer` and V1 `layers`, `input_dim` counts that are not 4 per input, a solver with both "
        "`solver_type` and `type`, a V0 layer of an unknown type. bn-upgrade says which and where instead of "
        "guessing.",
        'input: "data"\ninput_dim: 1\ninput_dim: 3\nlayer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n',
    ),
    _error(
        "E006",
        "unreadable-model",
        "a binary model that cannot be read",
        "A `.caffemodel` is a NetParameter in protobuf's wire format. A truncated or foreign file (HDF5, a "
        "zip, text named `.caffemodel`) is reported instead of half-read.",
        "",
    ),
    _error(
        "E007",
        "cannot-keep",
        "an upgrade would have to drop text the schema does not know",
        "A few upgrades (a V0 net whose padding layers sit in a list) rewrite the whole net in Caffe's own "
        "layout. If the net holds fields the schema does not know, that rewrite would lose them, so the file "
        "is left as it is; name the fork's schema with `--dialect` or `--proto` so those fields are known.",
        "",
    ),
    _error(
        "E008",
        "too-big",
        "an input too big for the memory there is",
        "Reading a text net takes memory in proportion to its size (see the README's 'Memory' section). An input "
        "that would not fit is refused before it is read, with the figures, instead of the process being killed.",
        "",
    ),
)
