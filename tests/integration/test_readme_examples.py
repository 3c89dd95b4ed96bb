"""The README's shell examples run as printed against the service started as its quick start says.

Every ```bash / ```sh / ```shell block of README.md runs with `bash -euo pipefail`, with only `localhost:9090`
changed to this test's port. The service is scripts/serve.sh's gunicorn (same flags, from this virtualenv) with the
environment the quick start's `export` lines set, plus a MODEL_DIR in tmp. A block is left out only when the line
right before its fence is a `<!-- readme-test: skip: <reason> -->` or `<!-- readme-test: compose -->` marker
(tests/support/readme.py); the compose blocks run in tests/containers/test_compose_stack.py.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

import pytest
import requests

from bench.servers import Process, free_port
from tests.support.readme import Block, BlockFailed, ReadmeError, run_block, shell_blocks

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SERVE = REPO / "scripts" / "serve.sh"
README_PORT = "localhost:9090"


# --- the extractor, on a small README ---------------------------------------------------------------------------

SAMPLE = """\
# A project

<!-- readme-test: skip: starts the service -->
```bash
export USER_NAME=alice
scripts/serve.sh
```

Some text.

```sh
echo unmarked sh
```

<!-- readme-test: compose -->
```shell
docker compose ps
```

```python
print("not a shell block")
```

1. A step:

   ```bash
   echo indented
   ```

```bash
echo last
```
"""


def test_the_extractor_collects_every_shell_block_with_its_marker():
    blocks = shell_blocks(SAMPLE)
    assert [(b.language, b.marker, b.code) for b in blocks] == [
        ("bash", "skip", "export USER_NAME=alice\nscripts/serve.sh\n"),
        ("sh", None, "echo unmarked sh\n"),
        ("shell", "compose", "docker compose ps\n"),
        ("bash", None, "echo indented\n"),
        ("bash", None, "echo last\n"),
    ]
    assert blocks[0].reason == "starts the service" and blocks[0].line == 4


def test_a_marker_must_stand_right_before_a_shell_fence_and_parse():
    with pytest.raises(ReadmeError, match="not right before a shell block"):
        shell_blocks("<!-- readme-test: skip: why -->\n\n```bash\necho hi\n```\n")
    with pytest.raises(ReadmeError, match="not right before a shell block"):
        shell_blocks("<!-- readme-test: skip: why -->\n```python\nprint()\n```\n")
    with pytest.raises(ReadmeError, match="does not parse"):
        shell_blocks("<!-- readme-test: skip -->\n```bash\necho hi\n```\n")  # no reason
    with pytest.raises(ReadmeError, match="does not parse"):
        shell_blocks("<!-- readme-test: skp: typo -->\n```bash\necho hi\n```\n")


@pytest.mark.parametrize(
    "code",
    [
        "echo one\nfalse\necho never\n",
        "false | true\n",
        'echo "$UNSET_IN_THIS_TEST"\n',
        "curl -fsS http://127.0.0.1:9/\n",
    ],
)
def test_a_block_with_a_failing_command_fails_the_runner(tmp_path, code):
    block = shell_blocks(f"```bash\n{code}```\n")[0]
    env = {k: v for k, v in os.environ.items() if k != "UNSET_IN_THIS_TEST"}
    with pytest.raises(BlockFailed, match="README line 1"):
        run_block(block, env, tmp_path, timeout=30)
    assert run_block(shell_blocks("```bash\necho fine | cat\n```\n")[0], env, tmp_path) == "fine\n"


# --- the README itself ------------------------------------------------------------------------------------------


def quick_start_block(blocks: list[Block]) -> Block:
    starts = [b for b in blocks if re.search(r"^scripts/serve\.sh\b", b.code, re.M)]
    assert len(starts) == 1, f"the README should start the service with scripts/serve.sh in one block: {starts}"
    assert starts[0].marker == "skip", f"{starts[0]} starts the service: mark it readme-test: skip"
    return starts[0]


def exports(block: Block) -> dict[str, str]:
    """NAME=value pairs of the block's `export` lines, as bash would set them (comments dropped)."""
    values: dict[str, str] = {}
    for line in block.code.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            values.update(word.split("=", 1) for word in words[1:] if "=" in word)
    return values


def serve_command(port: int) -> list[str]:
    """scripts/serve.sh's gunicorn command with its default flags, from this virtualenv, on `port`."""
    script = SERVE.read_text()
    for flag in ("--preload", '--workers "${WORKERS:-1}"', '--threads "${THREADS:-8}"', "GUNICORN_TIMEOUT:-300"):
        assert flag in script, f"scripts/serve.sh changed ({flag} is gone): update this test's command"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    flags = f"--preload --bind 127.0.0.1:{port} --workers 1 --threads 8 --timeout 300 _wsgi:app"
    return [str(gunicorn), *flags.split()]


def clean_environ() -> dict[str, str]:
    """This shell's environment without the service's settings (the README's exports provide them)."""
    drop = ("BASIC_AUTH", "LABEL_STUDIO", "REDIS_URL", "WEBHOOK_SECRET", "MODEL_", "BASELINE_MODEL", "MLFLOW")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def readme_blocks() -> list[Block]:
    return shell_blocks(README.read_text())


@pytest.fixture(scope="module")
def service(readme_blocks, tmp_path_factory):
    """The bare service as the quick start starts it: its exports, MODEL_DIR in tmp, the hub off."""
    tmp = tmp_path_factory.mktemp("readme-service")
    settings = exports(quick_start_block(readme_blocks))
    assert {"BASIC_AUTH_USER", "BASIC_AUTH_PASS"} <= set(settings), f"the quick start sets no basic auth: {settings}"
    port = free_port()
    env = {
        **clean_environ(),
        **settings,
        "MODEL_DIR": str(tmp / "models"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    proc = Process(serve_command(port), env, tmp / "gunicorn.log")
    auth = (settings["BASIC_AUTH_USER"], settings["BASIC_AUTH_PASS"])
    deadline = time.time() + 180
    try:
        while True:
            assert proc.proc.poll() is None, f"the service exited with {proc.proc.returncode}:\n{proc.tail()}"
            assert time.time() < deadline, f"the service did not answer /health within 180s:\n{proc.tail()}"
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", auth=auth, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        yield port, {**clean_environ(), **settings}, proc
    finally:
        proc.stop()


def test_every_unmarked_shell_block_of_the_readme_runs_against_the_service(readme_blocks, service):
    port, env, proc = service
    runnable = [b for b in readme_blocks if b.marker is None]
    assert runnable, "the README has no shell block left to run"
    assert any(README_PORT in b.code for b in runnable), "no README example talks to the service"
    failures = []
    for block in runnable:
        code = block.code.replace(README_PORT, f"localhost:{port}")
        try:
            run_block(Block(block.line, block.language, code), env, REPO, timeout=300)
        except BlockFailed as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures) + f"\n--- the service's log:\n{proc.tail(40)}"


def test_every_skipped_block_says_why(readme_blocks):
    skipped = [b for b in readme_blocks if b.marker == "skip"]
    assert all(b.reason for b in skipped), skipped
    assert any(b.marker == "compose" for b in readme_blocks), "no block marked readme-test: compose"
