"""Every ```python block of README.md (and of the docs it hands its reference to) runs as
written, each in a fresh Python process; every ``outlast`` command its ```bash blocks show
is one the CLI accepts, and every ``OUTLAST_`` variable it names is a real setting.

A snippet runs as a script of its own in an empty temporary directory, with none of the
caller's ``OUTLAST_`` settings, and must exit 0 with nothing on stderr (no traceback, no
warning). A snippet that sends work to the worker system gets a broker that answers: the
test Redis, under a namespace of its own whose keys are deleted afterwards; no worker runs,
and something must have reached that broker. A snippet that reads the store (dead letters)
gets the same Redis and namespace. Blocks of other languages (``bash``, ``text``) are not
run. A new snippet is picked up by itself, so adding one that does not run makes this suite
fail.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from _servers import delete_keys_with_prefix
from outlast.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The documents whose Python blocks must run: the README and the reference pages it links.
DOCUMENTS = (README, ROOT / "docs" / "resilience.md", ROOT / "docs" / "worker-system.md")
REFERENCE = ROOT / "docs" / "configuration.md"
SNIPPET_TIMEOUT = 60.0
FENCE = re.compile(r"^```(\S*)\s*$")
#: A snippet that sends work needs a broker; every other one runs without any Redis.
SENDS_WORK = re.compile(r"\benqueue\(|\bpayment_queue\b|\bemail_queue\b")
#: A snippet that reads the store needs the same Redis, but sends nothing.
READS_STORE = re.compile(r"\bdead_letters\b")
#: Variables of the test and bench tools and the file setting, not fields of the settings.
TOOL_VARIABLES = frozenset(
    {
        "OUTLAST_CONFIG_FILE",
        "OUTLAST_TEST_REDIS_URL",
        "OUTLAST_TEST_AMQP_URL",
        "OUTLAST_TEST_MONGODB_URL",
        "OUTLAST_BENCH_REDIS_URL",
        "OUTLAST_DEPS",
        "OUTLAST_TEST_PROCESSES",
    }
)
VARIABLE = re.compile(r"\bOUTLAST_[A-Z0-9_]*(?:<NAME>[A-Z0-9_]*)*")


@dataclass(frozen=True)
class Snippet:
    """One fenced block: its language, code, nearest heading, first line and document."""

    language: str
    code: str
    heading: str
    line: int
    document: str = "README.md"


def read_snippets(text: str, document: str = "README.md") -> list[Snippet]:
    """Every fenced block of ``text``, in order, with the heading it sits under."""
    snippets: list[Snippet] = []
    heading, language, start = "top", None, 0
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if language is None and fence:
            language, start, body = fence.group(1), number + 1, []
        elif language is not None and line.strip() == "```":
            code = "\n".join(body) + "\n"
            snippets.append(Snippet(language, code, heading, start, document))
            language = None
        elif language is not None:
            body.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    assert language is None, f"{document}: the block opened at line {start} is never closed"
    return snippets


def python_snippets() -> list[Snippet]:
    """The Python blocks of the README and of its reference pages."""
    snippets = []
    for path in DOCUMENTS:
        name = str(path.relative_to(ROOT))
        snippets += [
            s for s in read_snippets(path.read_text(), name) if s.language in {"python", "py"}
        ]
    return snippets


def snippet_ids(snippets: list[Snippet]) -> list[str]:
    """A test id per snippet from its document and heading (numbered when one has several)."""
    slugs = [
        re.sub(
            r"[^a-z0-9]+",
            "-",
            f"{'' if s.document == 'README.md' else s.document} {s.heading}".lower(),
        ).strip("-")
        for s in snippets
    ]
    return [f"{slug}-{slugs[:i].count(slug) + 1}" if slugs.count(slug) > 1 else slug
            for i, slug in enumerate(slugs)]  # fmt: skip


SNIPPETS = python_snippets()


def environment(redis_url: str, namespace: str, *, needs_redis: bool) -> dict[str, str]:
    """This process's environment without any ``OUTLAST_`` setting, plus a Redis if needed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTLAST_")}
    if needs_redis:
        env["OUTLAST_REDIS_URL"] = redis_url
        env["OUTLAST_NAMESPACE"] = namespace
    return env


def test_the_readme_has_python_snippets_and_every_fence_is_read() -> None:
    """The reader finds each ```python fence of each document, none missed or merged."""
    fences = 0
    for path in DOCUMENTS:
        fences += len(re.findall(r"^```py(?:thon)?\s*$", path.read_text(), flags=re.MULTILINE))
    assert len(SNIPPETS) == fences
    assert len([s for s in SNIPPETS if s.document == "README.md"]) >= 3


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
    needs_redis = sends_work or bool(READS_STORE.search(snippet.code))
    sent: list[bytes] = []
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=environment(redis_url, namespace, needs_redis=needs_redis),
            capture_output=True,
            text=True,
            timeout=SNIPPET_TIMEOUT,
            check=False,
        )
    finally:
        if needs_redis:
            client = redis.Redis.from_url(redis_url)
            sent = list(client.scan_iter(match=f"outlast:{namespace}:*"))
            delete_keys_with_prefix(client, f"outlast:{namespace}:")  # broker and store
            delete_keys_with_prefix(client, f"outlast:{{{namespace}:")  # shared state
            client.close()
    where = f"{snippet.document} line {snippet.line} ({snippet.heading})"
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stderr}"
    assert done.stderr == "", f"{where} wrote to stderr:\n{done.stderr}"
    assert sent or not sends_work, f"{where} sent nothing to the broker"


def outlast_commands(text: str) -> list[list[str]]:
    """The arguments of every ``outlast`` command line in the ```bash blocks of ``text``
    (leading ``NAME=value`` assignments, ``export`` lines and comments left out)."""
    commands = []
    for snippet in read_snippets(text):
        if snippet.language != "bash":
            continue
        for line in snippet.code.splitlines():
            words = shlex.split(line, comments=True)
            while words and "=" in words[0]:
                words = words[1:]
            if words and Path(words[0]).name == "outlast":
                commands.append(words[1:])
    return commands


def reference_patterns() -> list[re.Pattern[str]]:
    """One pattern per variable of docs/configuration.md (``<NAME>`` matching any name)."""
    variables = re.findall(r"^\| `(OUTLAST_[^`]+)` \|", REFERENCE.read_text(), flags=re.MULTILINE)
    name = r"(?:<NAME>|[A-Z0-9_]+)"
    return [re.compile(re.escape(v).replace(re.escape("<NAME>"), name)) for v in variables]


def is_documented(variable: str, patterns: list[re.Pattern[str]]) -> bool:
    """Whether ``variable`` is a tool variable or a row of the configuration reference."""
    return variable in TOOL_VARIABLES or any(p.fullmatch(variable) for p in patterns)


def test_every_outlast_command_in_the_readme_is_accepted_by_the_cli() -> None:
    """Each ``outlast ...`` line of the README's bash blocks parses with the CLI's parser."""
    commands = outlast_commands(README.read_text())
    assert {args[0] for args in commands} >= {"dev", "worker", "beat", "flower"}
    for args in commands:
        try:
            _parser().parse_args(args)
        except SystemExit as exit_:
            raise AssertionError(f"README: outlast {shlex.join(args)} is refused") from exit_


def test_the_command_reader_takes_outlast_lines_only() -> None:
    """Assignments and comments are dropped; lines of other programs are not commands."""
    text = "```bash\nA=1 B=2 outlast flower  # note\nexport X=1\n.venv/bin/outlast dev\nls\n```\n"
    assert outlast_commands(text) == [["flower"], ["dev"]]


def test_every_outlast_variable_in_the_readme_is_a_setting() -> None:
    """Each ``OUTLAST_`` name the README uses is in the configuration reference (or a tool's)."""
    patterns = reference_patterns()
    names = set(VARIABLE.findall(README.read_text())) - {"OUTLAST_"}
    assert len(names) > 10
    assert sorted(name for name in names if not is_documented(name, patterns)) == []


def test_the_variable_check_refuses_a_name_that_is_no_setting() -> None:
    """The check above can fail: a misspelt name or profile field is not documented."""
    patterns = reference_patterns()
    assert is_documented("OUTLAST_CIRCUIT_BREAKERS__PAYMENTS_GATEWAY__RECOVERY_TIMEOUT", patterns)
    assert is_documented("OUTLAST_CIRCUIT_BREAKERS__<NAME>__FAILURE_THRESHOLD", patterns)
    assert not is_documented("OUTLAST_REDIS_URI", patterns)
    assert not is_documented("OUTLAST_RETRIES__<NAME>__ATTEMPTS", patterns)


def test_every_file_the_readme_names_exists() -> None:
    """Each repository path the README names (docs, scripts, bench, tests, .ci) is there."""
    text = README.read_text()
    paths = set(re.findall(r"(?<![\w/.])((?:docs|scripts|bench|tests|\.ci)/[\w./-]*\w)", text))
    assert "docs/configuration.md" in paths
    assert sorted(path for path in paths if not (ROOT / path).exists()) == []
