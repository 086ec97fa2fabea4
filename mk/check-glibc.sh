#!/bin/sh
# check-glibc.sh LIB [OLDEST]: exit 1 unless LIB loads into every glibc from
# OLDEST (default 2.28, Debian buster's) on: its only NEEDED entry is
# libc.so.6, and every symbol version it needs from it exists there.
#
# glibc moved dlsym, dladdr and the pthread functions into libc.so.6 in 2.34
# (before, libdl.so.2 and libpthread.so.0 had them, and libc only stubs): a
# reference to one of them, or anything newer than OLDEST, would make the
# library fail to load ("version `GLIBC_2.34' not found") in a root of an
# older release. The symbols behind each version are named on failure.
set -eu
lib=$1
oldest=${2:-2.28}
fail=0
needed=$(readelf -d -W "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [ "$needed" != "libc.so.6" ]; then
  echo "check-glibc: $lib: needs $(echo "$needed" | tr '\n' ' ')- only libc.so.6 is allowed" >&2
  fail=1
fi
# "Name: GLIBC_2.34" lines of the version needs section.
versions=$(readelf --version-info -W "$lib" | sed -n '/Version needs/,$ s/.*Name: \([^ ]*\).*/\1/p')
for v in $versions; do
  case $v in
    GLIBC_PRIVATE) bad=1 ;;
    GLIBC_[0-9]*)
      n=${v#GLIBC_}
      top=$(printf '%s\n%s\n' "$n" "$oldest" | sort -V | tail -n 1)
      bad=0
      [ "$top" = "$oldest" ] || bad=1
      [ "$n" = "$oldest" ] && bad=0
      ;;
    *) bad=1 ;;
  esac
  if [ "$bad" = 1 ]; then
    syms=$(objdump -T "$lib" | awk -v v="($v)" '$0 ~ /\*UND\*/ && index($0, v) { print $NF }' | tr '\n' ' ')
    echo "check-glibc: $lib: needs $v (${syms% }), newer than glibc $oldest or private: it would not load into an older root" >&2
    fail=1
  fi
done
# Older libc.so.6 has some of libpthread's functions too, as forwarders that
# do nothing until libpthread is loaded (pthread_mutex_lock returns 0 and
# locks nothing): those are refused whatever their version.
stubs=$(objdump -T "$lib" | awk '/\*UND\*/ && ($NF ~ /^pthread_/ && $NF != "pthread_self" || $NF ~ /^dl(open|sym|vsym|addr|addr1|close|error|info|mopen)$/) { print $NF }' | sort -u | tr '\n' ' ')
if [ -n "$stubs" ]; then
  echo "check-glibc: $lib: uses ${stubs% }: in libpthread.so.0 or libdl.so.2 before glibc 2.34 (libc.so.6 has at most a stub)" >&2
  fail=1
fi
exit $fail
