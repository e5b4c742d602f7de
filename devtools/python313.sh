#!/bin/sh
# Prints the path of a Python >= 3.12, Django 6's floor (this machine's Debian 12 ships 3.11).
# Takes $PYTHON_DJ6 or python3.13/3.12/3.14 from PATH; else builds CPython 3.13 once, from the
# upstream tarball in Debian 13's python3.13 source package (apt checks it against the signed
# index), into $COUCOU_PYTHON_PREFIX (~/.cache/coucou/python3.13). Build log on stderr.
set -eu
for py in "${PYTHON_DJ6:-}" python3.13 python3.12 python3.14; do
  if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 &&
     "$py" -c 'import sys, ssl, sqlite3; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    command -v "$py"
    exit 0
  fi
done
prefix="${COUCOU_PYTHON_PREFIX:-$HOME/.cache/coucou/python3.13}"
if [ ! -x "$prefix/bin/python3.13" ]; then
  deps="libssl-dev libffi-dev libsqlite3-dev zlib1g-dev libbz2-dev liblzma-dev uuid-dev libreadline-dev"
  # shellcheck disable=SC2086
  if ! dpkg -s $deps >/dev/null 2>&1; then
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $deps >&2
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb-src http://deb.debian.org/debian trixie main" >"$work/sources.list"
  apt="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent"
  apt="$apt -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache"
  # shellcheck disable=SC2086
  apt-get $apt update -q >&2
  # shellcheck disable=SC2086
  (cd "$work" && apt-get $apt source --download-only -q python3.13 >&2)
  tar -xJf "$work"/python3.13_*.orig.tar.xz -C "$work"
  cd "$work"/Python-3.13.*/
  echo "building CPython 3.13 into $prefix (a few minutes)" >&2
  ./configure -q --prefix="$prefix" --with-ensurepip=install >&2
  nice -n 10 make -s -j"$(nproc)" >&2
  make -s altinstall >&2
fi
echo "$prefix/bin/python3.13"
