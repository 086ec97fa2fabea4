// The daemon's socket protocol: one received message (as recv with
// MSG_TRUNC reports it), parsed or refused; a path payload never holds a
// NUL byte nor names a relative path.
#include <cstring>

#include "../../preload/core/proto.h"
#include "fuzz.h"

COWROOT_FUZZ_TARGET(proto) {
  char buf[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
  // The first two bytes say how much longer than the buffer the sender's
  // message was (recv's MSG_TRUNC length may exceed what it copied).
  size_t extra = size >= 2 ? (data[0] | data[1] << 8) : 0;
  if (size >= 2) data += 2, size -= 2;
  size_t n = size < sizeof buf ? size : sizeof buf;
  memcpy(buf, data, n);
  cr::proto::Parsed m;
  if (!cr::proto::parse(buf, n + extra, sizeof buf, &m)) return 0;
  FUZZ_CHECK(extra == 0 || n + extra <= sizeof buf);
  FUZZ_CHECK(m.head.magic == cr::proto::kMagic && m.len == m.head.len && m.len <= cr::proto::kMaxPayload);
  FUZZ_CHECK(m.payload == buf + sizeof(cr::proto::Msg) && sizeof(cr::proto::Msg) + m.len == n + extra);
  FUZZ_CHECK(m.payload + m.len <= buf + sizeof buf);
  if (cr::proto::path_payload(m) && m.len) {
    FUZZ_CHECK(m.payload[0] == '/' && memchr(m.payload, 0, m.len) == nullptr);
  }
  return 0;
}
