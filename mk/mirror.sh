#!/bin/sh
# Prints the Debian mirror of the host's apt sources (the first non-security
# http(s) one, one-line or deb822 format). Never a hard-coded host.
sed -n 's/^URIs: *\(http[^ ]*debian\)\/\?\( .*\)\?$/\1/p; s/^deb \(\[[^]]*\] \)\?\(http[^ ]*debian\)\/\? .*/\2/p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  grep -v security | head -n 1
