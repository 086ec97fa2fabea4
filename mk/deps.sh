#!/bin/sh
# Installs the Debian packages a make target needs (the build's include
# debootstrap: `cowroot run` builds its first image with it): with apt-get when run as
# root, otherwise prints the exact command to run and fails.
#   mk/deps.sh build|test|bench|peer|fuzz
set -eu
build="g++ make pkg-config python3 libelf-dev zlib1g-dev doctest-dev debootstrap debian-archive-keyring"
test="$build util-linux libcap2-bin attr debootstrap sharutils python3 libgtest-dev python3-pytest python3-fixtures python3-pytest-xdist cmake zstd procps sysvinit-utils golang-go musl-tools busybox-static tzdata gdb strace"
bench="$test fakeroot fakechroot cowdancer proot"
peer="$test autoconf automake libtool perl cowdancer libjemalloc2"
# make fuzz: clang and its libFuzzer and sanitizer runtimes (Debian's clang-14)
fuzz="$build clang-14 libclang-rt-14-dev"
case "${1:-build}" in
  build) want=$build ;;
  test) want=$test ;;
  bench) want=$bench ;;
  peer) want=$peer ;;
  fuzz) want=$fuzz ;;
  *) echo "usage: $0 build|test|bench|peer|fuzz" >&2; exit 2 ;;
esac
missing=
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "cowroot: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "cowroot: missing Debian packages; run as root:  apt-get install$missing" >&2
  exit 1
fi
