"""Every ```python block of README.md runs as written, each in a fresh Python process.

A snippet runs as a script of its own in an empty temporary directory, with none of the
caller's ``OUTLAST_`` settings, and must exit 0 with nothing on stderr (no traceback, no
warning). A snippet that sends work to the worker system gets a broker that answers: the
test Redis, under a namespace of its own whose keys are deleted afterwards; no worker runs,
and something must have reached that broker. Blocks of other languages (``bash``) are not
run. A new snippet is picked up by itself, so adding one that does not run makes this suite
fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from _servers import delete_keys_with_prefix

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET_TIMEOUT = 60.0
FENCE = re.compile(r"^```(\S*)\s*$")
#: A snippet that sends work needs a broker; every other one runs without any Redis.
SENDS_WORK = re.compile(r"\benqueue\(|\bpayment_queue\b|\bemail_queue\b")


@dataclass(frozen=True)
class Snippet:
    """One fenced block: its language, code, nearest heading and first line in the README."""

    language: str
    code: str
    heading: str
    line: int


def read_snippets(text: str) -> list[Snippet]:
    """Every fenced block of ``text``, in order, with the heading it sits under."""
    snippets: list[Snippet] = []
    heading, language, start = "top", None, 0
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if language is None and fence:
            language, start, body = fence.group(1), number + 1, []
        elif language is not None and line.strip() == "```":
            snippets.append(Snippet(language, "\n".join(body) + "\n", heading, start))
            language = None
        elif language is not None:
            body.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    assert language is None, f"README.md: the block opened at line {start} is never closed"
    return snippets


def python_snippets() -> list[Snippet]:
    """The README's Python blocks."""
    return [s for s in read_snippets(README.read_text()) if s.language in {"python", "py"}]


def snippet_ids(snippets: list[Snippet]) -> list[str]:
    """A test id per snippet from its heading (numbered when a heading has several)."""
    slugs = [re.sub(r"[^a-z0-9]+", "-", s.heading.lower()).strip("-") for s in snippets]
    return [f"{slug}-{slugs[:i].count(slug) + 1}" if slugs.count(slug) > 1 else slug
            for i, slug in enumerate(slugs)]  # fmt: skip


SNIPPETS = python_snippets()


def environment(redis_url: str, namespace: str, *, sends_work: bool) -> dict[str, str]:
    """This process's environment without any ``OUTLAST_`` setting, plus a broker if needed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTLAST_")}
    if sends_work:
        env["OUTLAST_REDIS_URL"] = redis_url
        env["OUTLAST_NAMESPACE"] = namespace
    return env


def test_the_readme_has_python_snippets_and_every_fence_is_read() -> None:
    """The reader finds each ```python fence of the README, none missed or merged."""
    text = README.read_text()
    assert len(SNIPPETS) == len(re.findall(r"^```py(?:thon)?\s*$", text, flags=re.MULTILINE))
    assert len(SNIPPETS) >= 3


def test_the_reader_takes_blocks_with_their_nearest_heading() -> None:
    """A block is read whole, with its language and the heading above it."""
    text = "# A\n\n```python\nx = 1\n\ny = 2\n```\n\n## B\n```bash\nls\n```\n"
    assert read_snippets(text) == [
        Snippet("python", "x = 1\n\ny = 2\n", "A", 4),
        Snippet("bash", "ls\n", "B", 11),
    ]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=snippet_ids(SNIPPETS))
def test_snippet_runs_as_written(snippet: Snippet, redis_url: str, tmp_path: Path) -> None:
    """The snippet, saved as a script, runs in a fresh process: exit 0, nothing on stderr."""
    namespace = f"outlast-readme-{uuid.uuid4().hex[:12]}"
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code)
    sends_work = bool(SENDS_WORK.search(snippet.code))
    sent: list[bytes] = []
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=environment(redis_url, namespace, sends_work=sends_work),
            capture_output=True,
            text=True,
            timeout=SNIPPET_TIMEOUT,
            check=False,
        )
    finally:
        if sends_work:
            client = redis.Redis.from_url(redis_url)
            sent = list(client.scan_iter(match=f"outlast:{namespace}:*"))
            delete_keys_with_prefix(client, f"outlast:{namespace}:")  # broker and store
            delete_keys_with_prefix(client, f"outlast:{{{namespace}:")  # shared state
            client.close()
    where = f"README.md line {snippet.line} ({snippet.heading})"
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stderr}"
    assert done.stderr == "", f"{where} wrote to stderr:\n{done.stderr}"
    assert sent or not sends_work, f"{where} sent nothing to the broker"
