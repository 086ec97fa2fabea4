#!/bin/sh
# The Python fixture's figures (bench/python_bench.py): ctypes against the
# installed command per helper call, and test cases per second (100 cases
# of `sh -c` in a fresh root each) with pytest, pytest -n 2, unittest and a
# bare loop. Installs into a temporary prefix; as root, runs as uid 65534.
# Needs the default cached image (built on first use: the Debian archive,
# ~2 minutes; XDG_CACHE_HOME, when set, names a cache to use instead).
#   bench/python.sh BUILD_DIR
set -eu
build=${1:?usage: sh bench/python.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" -c 'import pytest' 2>/dev/null || { echo "bench: $py has no pytest (apt-get install python3-pytest)" >&2; exit 1; }
stage=$(mktemp -d /tmp/cowroot-bench-python.XXXXXX)
trap 'rm -rf "$stage"' EXIT
make -s -C "$here/.." install PREFIX="$stage/prefix" BUILD="$(cd "$build" && pwd)" >/dev/null
cp "$here/python_bench.py" "$stage/"
mkdir -p "$stage/home"
chmod -R a+rX "$stage"
pydir=$(echo "$stage"/prefix/lib/python3*/dist-packages)
as_user=
if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$stage/home"
  as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
cd "$stage/home"
$as_user env HOME="$stage/home" TMPDIR="$stage/home" PYTHONPATH="$pydir" PYTHONDONTWRITEBYTECODE=1 \
  ${XDG_CACHE_HOME:+XDG_CACHE_HOME="$XDG_CACHE_HOME"} ${BENCH_PY_CASES:+BENCH_PY_CASES=$BENCH_PY_CASES} \
  ${BENCH_PY_ROUNDS:+BENCH_PY_ROUNDS=$BENCH_PY_ROUNDS} "$py" "$stage/python_bench.py"
