"""`[tool.bn-upgrade]` in pyproject.toml: found as ruff finds its own, every key checked, flags win.

The file's keys are read in-process (fast, one case per key); how a run finds
and uses a file is shown by running the command in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool.config import KEYS, ConfigError, find, load

LEGACY = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n  param { lr_mult: 0 }\n}\n'
ZEROED = LEGACY.replace("param { lr_mult: 0 }", "param { lr_mult: 0 decay_mult: 0 }")
STRIPPED = LEGACY.replace("  param { lr_mult: 0 }\n", "")
TEMPLATE = "layer { name: $NAME }\n"  # a template with a placeholder: not prototxt until filled in


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in completed.stderr
    return completed


def project(tmp_path: Path, config: str, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text(config)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


# -- every key, read in-process ---------------------------------------------------------------

VALID = {
    "bn-style": ("zero", "zero"),
    "format": ("canonical", "canonical"),
    "strict": (True, True),
    "unsafe-fixes": (True, True),
    "fix": (True, True),
    "proto": ("fork/caffe.proto", "fork/caffe.proto"),
    "v1-type": ({"ROI_POOLING": "ROIPooling"}, (("ROI_POOLING", "ROIPooling"),)),
    "dialect": ("ssd", "ssd"),
    "target": ("bvlc", "bvlc"),
    "kind": ("net", "net"),
    "include": (["*.prototxt"], ("*.prototxt",)),
    "exclude": (["ex/skip"], ("ex/skip",)),
    "extend-exclude": (["build/"], ("build/",)),
    "force-exclude": (True, True),
    "select": (["bn", "UP005"], ("BN", "UP005")),
    "extend-select": (["DL001"], ("DL001",)),
    "ignore": (["E001"], ("E001",)),
    "per-file-ignores": ({"templates/*": ["E001"]}, (("templates/*", ("E001",)),)),
    "jobs": (2, 2),
    "output-format": ("sarif", "sarif"),
    "cache": (False, False),
    "cache-dir": (".cache", ".cache"),
}
BAD = {
    "bn-style": ("zeroo", "must be one of 'strip', 'zero'"),
    "strict": ("yes", "must be true or false"),
    "jobs": (0, "at least 1"),
    "select": (["XY9"], "'XY9' is no code or prefix of one"),
    "per-file-ignores": (["E001"], "must be a table of pattern = [codes]"),
    "dialect": ("ssdd", "did you mean 'ssd'?"),
    "v1-type": (["ROI_POOLING"], 'must be a table like {ROI_POOLING = "ROIPooling"}'),
    "include": ([1], "must be a list of strings"),
}


def test_every_key_is_tested() -> None:
    assert set(VALID) == set(KEYS)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return f'"{value}"' if isinstance(value, str) else str(value)


@pytest.mark.parametrize("key", sorted(VALID))
def test_each_key_is_read_as_its_option(tmp_path: Path, key: str) -> None:
    value, expected = VALID[key]
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.bn-upgrade]\n{key} = {_toml(value)}\n")
    name = KEYS[key][0]
    got = load(str(path), required=True).values[name]
    if name in ("proto", "cache_dir"):  # paths in the file count from its directory
        expected = str(tmp_path / str(expected))
    assert got == expected


@pytest.mark.parametrize("key", sorted(BAD))
def test_a_bad_value_is_an_error_naming_the_file_and_the_key(tmp_path: Path, key: str) -> None:
    value, words = BAD[key]
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.bn-upgrade]\n{key} = {_toml(value)}\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path), required=True)
    message = str(caught.value)
    assert message.startswith(f"{path}:2:1: [tool.bn-upgrade] {key}: ")
    assert words in message
    assert "\n" not in message


def test_the_nearest_file_with_the_table_is_used(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.bn-upgrade]\nbn-style = "zero"\n')
    inner = tmp_path / "models" / "v1"
    inner.mkdir(parents=True)
    (tmp_path / "models" / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")  # no table: skipped
    found = find([str(inner), str(tmp_path / "models" / "x.prototxt")])
    assert found.path == str(tmp_path / "pyproject.toml")
    assert found.root == str(tmp_path)
    assert found.values == {"bn_style": "zero"}


# -- runs -------------------------------------------------------------------------------------


def test_a_run_uses_the_project_file_and_minus_v_says_which(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.bn-upgrade]\nbn-style = "zero"\n', {"models/net.prototxt": LEGACY})
    completed = run("-v", "net.prototxt", cwd=root / "models")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[0] == f"bn-upgrade: configuration: {root / 'pyproject.toml'}"
    assert (root / "models" / "net.prototxt").read_text() == ZEROED


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("--bn-style", "strip"), STRIPPED, id="a flag overrides the file"),
        pytest.param(("--isolated",), STRIPPED, id="--isolated ignores the file"),
        pytest.param(("--config", "other.toml"), STRIPPED, id="--config names another file"),
        pytest.param((), ZEROED, id="without flags the file decides"),
    ],
)
def test_the_command_line_wins_over_the_file(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    root = project(tmp_path, '[tool.bn-upgrade]\nbn-style = "zero"\n', {"net.prototxt": LEGACY})
    (root / "other.toml").write_text('bn-style = "strip"\n')
    assert run(*args, "net.prototxt", cwd=root).returncode == 0
    assert (root / "net.prototxt").read_text() == expected


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--diff", "net.prototxt"), id="--diff"),
        pytest.param(("-o", "-", "net.prototxt"), id="-o -"),
        pytest.param(("--report", "-", "--check", "net.prototxt"), id="--report -"),
    ],
)
def test_a_configured_output_format_gives_way_to_what_the_command_line_writes_to_stdout(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    root = project(tmp_path, '[tool.bn-upgrade]\noutput-format = "github"\n', {"net.prototxt": LEGACY})
    completed = run("--no-cache", *args, cwd=root)
    assert completed.returncode in (0, 1), completed.stderr
    assert completed.stdout and "::" not in completed.stdout
    assert "net.prototxt" in completed.stderr  # the messages, as text
    both = run("--no-cache", "--output-format", "github", *args, cwd=root)
    assert both.returncode == 2 and "would both write to standard output" in both.stderr


def test_isolated_and_config_together_are_a_usage_error(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.bn-upgrade]\nbn-style = "zero"\n', {"net.prototxt": LEGACY})
    (root / "other.toml").write_text('bn-style = "strip"\n')
    completed = run("--isolated", "--config", "other.toml", "net.prototxt", cwd=root)
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert "--isolated" in line and "--config" in line
    assert (root / "net.prototxt").read_text() == LEGACY


LEARNABLE = LEGACY.replace("lr_mult: 0", "lr_mult: 1")  # BN001: left unchanged, needs a human


@pytest.mark.parametrize(
    ("config", "args", "reported"),
    [
        pytest.param('ignore = ["BN001"]', (), False, id="the file's ignore"),
        pytest.param('ignore = ["BN001"]', ("--select", "BN001"), True, id="--select replaces the file's selection"),
        pytest.param('ignore = ["BN001"]', ("--extend-select", "BN001"), True, id="--extend-select goes over it"),
        pytest.param('select = ["UP"]', ("--extend-select", "BN"), True, id="--extend-select adds to the select"),
        pytest.param('select = ["BN001"]', ("--ignore", "BN"), False, id="--ignore goes over the file's select"),
        pytest.param('extend-select = ["BN001"]\nignore = ["BN"]', ("--select", "UP"), False, id="--select UP"),
    ],
)
def test_selectors_on_the_command_line_are_layered_over_the_file_as_ruff_does(
    tmp_path: Path, config: str, args: tuple[str, ...], reported: bool
) -> None:
    root = project(tmp_path, f"[tool.bn-upgrade]\n{config}\n", {"net.prototxt": LEARNABLE})
    completed = run("--check", "--no-cache", *args, "net.prototxt", cwd=root)
    assert (" BN001 " in completed.stderr) is reported, completed.stderr
    assert completed.returncode == (1 if reported else 0), completed.stderr


@pytest.mark.parametrize(
    ("config", "where", "words"),
    [
        pytest.param(
            '[tool.bn-upgrade]\nbn-styl = "zero"\n',
            ":2:1",
            "unknown key 'bn-styl'; did you mean 'bn-style'?",
            id="a typo",
        ),
        pytest.param(
            '[tool.ruff]\njobs = 1\n\n[tool.bn-upgrade]\nfix = true\n  jobs = "two"\n',
            ":6:3",
            "jobs: must be a whole number",
            id="a bad value",
        ),
        pytest.param('[tool.bn-upgrade]\n"select" = "XY9"\n', ":2:1", "select: 'XY9' is no code", id="a quoted key"),
        pytest.param("[tool.bn-upgrade\n", ":1:17", "not valid TOML", id="not TOML"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, config: str, where: str, words: str) -> None:
    root = project(tmp_path, config, {"net.prototxt": LEGACY})
    completed = run("net.prototxt", cwd=root)
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert line.startswith(f"bn-upgrade: {root / 'pyproject.toml'}{where}: "), line
    assert words in line
    assert (root / "net.prototxt").read_text() == LEGACY


def test_per_file_ignores_silence_an_error_for_templates_and_leave_them_alone(tmp_path: Path) -> None:
    config = '[tool.bn-upgrade]\nper-file-ignores = {"templates/*" = ["E001"]}\n'
    root = project(tmp_path, config, {"templates/t.prototxt": TEMPLATE, "nets/t.prototxt": TEMPLATE})
    completed = run("--check", ".", cwd=root)
    assert completed.returncode == 2  # the same text outside templates/ still fails
    lines = completed.stderr.splitlines()
    assert any(line.startswith("./nets/t.prototxt:1:") and " E001 " in line for line in lines), lines
    assert not any("templates/t.prototxt" in line for line in lines)
    assert (root / "templates" / "t.prototxt").read_text() == TEMPLATE


def test_an_ignored_error_is_not_reported_and_does_not_fail(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.bn-upgrade]\nignore = ["E001"]\n', {"t.prototxt": TEMPLATE, "n.prototxt": LEGACY})
    completed = run(".", cwd=root)
    assert completed.returncode == 0, completed.stderr
    assert "t.prototxt" not in completed.stderr
    assert "1 with an ignored error" in completed.stderr
    assert (root / "t.prototxt").read_text() == TEMPLATE


def test_exclude_in_the_file_counts_from_its_directory(tmp_path: Path) -> None:
    files = {"ex/skip/a.prototxt": LEGACY, "ex/keep/b.prototxt": LEGACY}
    root = project(tmp_path, '[tool.bn-upgrade]\nexclude = ["ex/skip"]\n', files)
    completed = run("--check", "skip", "keep", cwd=root / "ex")
    assert completed.returncode == 1
    assert "a.prototxt" not in completed.stderr
    assert "keep/b.prototxt: would upgrade" in completed.stderr


def test_force_exclude_applies_to_files_named_on_the_command_line(tmp_path: Path) -> None:
    files = {"vendor/a.prototxt": LEGACY, "b.prototxt": LEGACY}
    root = project(tmp_path, '[tool.bn-upgrade]\nextend-exclude = ["vendor"]\nforce-exclude = true\n', files)
    completed = run("--check", "vendor/a.prototxt", "b.prototxt", cwd=root)
    assert completed.returncode == 1
    assert "vendor" not in completed.stderr
    named = run("--check", "--no-force-exclude", "vendor/a.prototxt", cwd=root)
    assert named.returncode == 1 and "vendor/a.prototxt: would upgrade" in named.stderr


MIXED_FORKS = (  # SSD's permute_param and DeepLab's interp_param: no one dialect reads both
    'layer { name: "p" type: "Permute" bottom: "x" top: "y" permute_param { order: 0 } }\n'
    'layer { name: "r" type: "Interp" bottom: "y" top: "z" interp_param { zoom_factor: 2 } }\n'
)


def test_kept_fork_fields_are_silent_by_default_and_shown_when_selected(tmp_path: Path) -> None:
    root = project(tmp_path, "[tool.bn-upgrade]\n", {"n.prototxt": MIXED_FORKS})
    plain = run("--check", "n.prototxt", cwd=root)
    assert plain.returncode == 0 and plain.stderr == ""
    verbose = run("--check", "-v", "n.prototxt", cwd=root)
    kept = "n.prototxt: kept 1 field the schema does not know, as written: permute_param"
    assert kept in verbose.stderr.splitlines()
    selected = run("--check", "--extend-select", "DL001", "n.prototxt", cwd=root)
    assert selected.returncode == 0
    assert " DL001 kept " in selected.stderr
    (root / "pyproject.toml").write_text('[tool.bn-upgrade]\nextend-select = ["DL001"]\n')
    assert " DL001 kept " in run("--check", "n.prototxt", cwd=root).stderr


def test_no_configuration_without_a_table(tmp_path: Path) -> None:
    root = project(tmp_path, "[tool.ruff]\nline-length = 100\n", {"net.prototxt": LEGACY})
    completed = run("-v", "--check", "net.prototxt", cwd=root)
    assert completed.stderr.splitlines()[0] == "bn-upgrade: no configuration file"
