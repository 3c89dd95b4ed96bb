"""The README's shell blocks, for the tests that run them as printed.

Every fenced block whose language is bash, sh or shell is collected. The line right before its fence may hold a
marker that the tests honour:

    <!-- readme-test: skip: <reason> -->   not run (e.g. the command that starts the service, the whole test suite)
    <!-- readme-test: compose -->          run by the container test only, against the compose stack

A block without a marker runs against the bare service (tests/integration/test_readme_examples.py). A marker that
does not parse, or one that stands anywhere but right before a shell block's fence, is an error: a typo must not
quietly change what runs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGUAGES = {"bash", "sh", "shell"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(?:(?P<compose>compose)|skip:\s*(?P<reason>\S.*?))\s*-->$")


class ReadmeError(ValueError):
    """A readme-test marker that does not parse or marks no shell block."""


class BlockFailed(AssertionError):
    """A block exited with a non-zero status."""


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: str | None = None  # None (run it), "skip" or "compose"
    reason: str = ""

    def __str__(self) -> str:
        first = self.code.strip().splitlines()[0] if self.code.strip() else ""
        return f"README line {self.line}: {first[:70]}"


def shell_blocks(text: str) -> list[Block]:
    """The shell blocks of a Markdown text, in order, with the marker on the line right before each fence."""
    lines = text.splitlines()
    blocks: list[Block] = []
    marked_lines: set[int] = set()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = len(opening["indent"]), opening["fence"], opening["lang"].lower()
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body, j = [], i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            j += 1
        if language in SHELL_LANGUAGES:
            marker, reason = None, ""
            previous = lines[i - 1].strip() if i > 0 else ""
            if previous.startswith("<!--") and "readme-test" in previous:
                found = MARKER.match(previous)
                if not found:
                    raise ReadmeError(f"line {i}: a readme-test marker that does not parse: {previous}")
                marker = "compose" if found["compose"] else "skip"
                reason = found["reason"] or ""
                marked_lines.add(i)  # 1-based line number of the marker
            blocks.append(Block(i + 1, language, "\n".join(body) + "\n", marker, reason))
        i = j + 1
    for number, line in enumerate(lines, start=1):
        if "readme-test" in line and line.strip().startswith("<!--") and number not in marked_lines:
            raise ReadmeError(f"line {number}: a readme-test marker that is not right before a shell block: {line}")
    return blocks


def run_block(block: Block, env: dict[str, str], cwd: Path, timeout: float = 120, prelude: str = "") -> str:
    """Run the block with `bash -euo pipefail` (after `prelude`, e.g. a shell function); its output, or BlockFailed."""
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", prelude + block.code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise BlockFailed(f"{block} ran over {timeout}s\n--- the block:\n{block.code}") from exc
    if done.returncode != 0:
        raise BlockFailed(
            f"{block} exited with {done.returncode}\n--- the block:\n{block.code}"
            f"--- stdout:\n{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}"
        )
    return done.stdout
