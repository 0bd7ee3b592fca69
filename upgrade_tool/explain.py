"""`bn-upgrade --explain CODE`, and the README's table of codes: both from the code registry."""

from __future__ import annotations

import textwrap

from upgrade_tool.codes import Code, Fix, all_codes

_FIXES = {
    Fix.NONE: "none (reported only)",
    Fix.UPGRADE: "an upgrade, applied on every run (not with --check or --diff)",
    Fix.SAFE: "safe: applied with --fix",
    Fix.UNSAFE: "unsafe: applied with --unsafe-fixes only",
}
_SHORT_FIXES = {Fix.NONE: "", Fix.UPGRADE: "upgrade", Fix.SAFE: "`--fix`", Fix.UNSAFE: "`--unsafe-fixes`"}


def explain_lines(code: Code, width: int = 88) -> list[str]:
    """What the code means, why, what to do, and a before/after example where there is one."""
    lines = [f"{code.code} ({code.name}): {code.summary}", ""]
    for paragraph in code.explanation.split("\n\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
        lines.append("")
    human = "yes: reporting it makes the run exit 1" if code.needs_human else "no"
    lines += [
        f"Level:          {code.level.value}",
        f"Needs a human:  {human}",
        f"Fix:            {_FIXES[code.fix]}",
        f"On by default:  {'yes' if code.default else 'no (--select ' + code.code + ' or --extend-select to see it)'}",
    ]
    if code.before:
        lines += ["", "Example:", *_indented(code.before)]
        if code.after and code.after != code.before:
            lines += ["", "becomes:", *_indented(code.after)]
        else:
            lines += ["", "is left as it is."]
    return lines


def _indented(text: str) -> list[str]:
    return ["    " + line for line in text.rstrip("\n").split("\n")]


def markdown_table() -> str:
    """The README's table of every code, in registry order."""
    lines = [
        "| code | name | what it means | level | needs a human | fix | on by default |",
        "|---|---|---|---|---|---|---|",
    ]
    for code in all_codes():
        cells = (
            f"`{code.code}`",
            code.name,
            code.summary,
            code.level.value,
            "yes" if code.needs_human else "",
            _SHORT_FIXES[code.fix],
            "yes" if code.default else "no",
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m upgrade_tool.explain: the table for README.md
    print(markdown_table())
