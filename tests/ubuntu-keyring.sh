#!/bin/sh
# tests/ubuntu-keyring.sh MIRROR OUT: Ubuntu's archive key, for the Ubuntu
# case of releases_tests. Debian's archive has no package of it, so it is
# taken from Ubuntu's own ubuntu-keyring package, fetched by apt's helper
# against the package's SHA-256 pinned here (so a mirror cannot hand us
# another key), and its archive keyring copied to OUT. Exits non-zero, with
# one line, when the mirror cannot be reached or the file is not that one.
set -eu
mirror=$1 out=$2
deb=pool/main/u/ubuntu-keyring/ubuntu-keyring_2021.03.26_all.deb
sum=0d0e7ed6b112f5d03eabf3c7eb01ebdacf9c57714b279e90495cfc58c8c4520f
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/lib/apt/apt-helper download-file "$mirror/$deb" "$tmp/k.deb" "SHA256:$sum" >"$tmp/log" 2>&1; then
  echo "ubuntu-keyring: cannot fetch $mirror/$deb: $(tail -n 1 "$tmp/log")" >&2
  exit 1
fi
dpkg-deb -x "$tmp/k.deb" "$tmp/x"
cp "$tmp/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" "$out"
chmod 644 "$out"
