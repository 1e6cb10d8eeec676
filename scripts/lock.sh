#!/usr/bin/env bash
# Refreshes requirements/dev.lock, the exact set of packages (with their hashes) that
# scripts/test.sh installs, from pyproject.toml's dependencies, dev, local, notify and api extras plus the build
# backend (requirements/build.in):
#
#     bash scripts/lock.sh                 newest releases that fit the ranges
#     bash scripts/lock.sh --upgrade-package redis    move one package only
#
# The lock is universal (any OS, Python 3.11 and newer). Commit the refreshed lock on its
# own, after `bash scripts/test.sh` passes with it, so a dependency moves on purpose.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV="${OUTLAST_UV:-}"
if [ -z "$UV" ]; then
    if [ -x .venv/bin/uv ]; then
        UV=.venv/bin/uv
    elif command -v uv >/dev/null 2>&1; then
        UV="$(command -v uv)"
    else
        echo "lock.sh: no uv found; run 'bash scripts/test.sh' once (it installs uv into .venv) or 'pip install uv'" >&2
        exit 1
    fi
fi

upgrade=(--upgrade)
if [ "$#" -gt 0 ]; then
    upgrade=("$@")
fi
"$UV" pip compile pyproject.toml requirements/build.in --extra dev --extra local --extra notify --extra api --universal \
    --python-version 3.11 --generate-hashes --no-header --quiet \
    "${upgrade[@]}" -o requirements/dev.lock
echo "lock.sh: wrote requirements/dev.lock; run 'bash scripts/test.sh' and commit the lock on its own"
