// The cowroot-faked wire protocol: SOCK_SEQPACKET messages on DIR/sock.
// Every message starts with Msg; anything else closes the connection.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cr::proto {

constexpr uint32_t kMagic = 0x31575243;  // "CRW1"
constexpr uint32_t kMaxPayload = 8192;

enum Op : uint32_t {
  kPing = 1,    // -> kOk, value = daemon pid
  kSave = 2,    // payload: path (may be empty: the session's -s file) -> kOk / kError(text)
  kEnd = 3,     // the launcher's command has exited; payload: the -s file, if any (a daemon
                // started again after the first was killed learns it here) -> kOk, value =
                // the session's other live processes
  kClients = 4, // -> kOk, value = daemon pid, payload = the socket inodes (uint64_t each) of the
                // daemon's other connections, as many as fit (what stop_session looks for in
                // /proc/*/fd when the daemon's own /proc/PID/fd is closed to it)
  kControl = 5, // the launcher's own connection: only as a connection's first message -> kOk.
                // Only such a connection names the state file (kSave, kEnd with a path): the
                // session's programs share another (the launcher spoke on it first), and the
                // daemon, a host process, must not write where a confined program says.
  kOk = 100,
  kError = 101,
};

struct Msg {
  uint32_t magic;
  uint32_t op;
  uint64_t value;
  uint32_t len;  // payload bytes that follow
  uint32_t pad;
};

// One message as received (n bytes of buf; n may exceed what the buffer
// held when the sender's message was truncated, as recv(MSG_TRUNC) says).
struct Parsed {
  Msg head;
  const char* payload;
  uint32_t len;
};

// Whether buf[0..n) is one well-formed message: our magic, a payload of the
// length the header says and no more than kMaxPayload. The daemon closes
// the connection of anything else; the launcher treats it as no answer.
inline bool parse(const void* buf, size_t n, size_t cap, Parsed* out) {
  if (n < sizeof(Msg) || n > cap || n > sizeof(Msg) + kMaxPayload) return false;
  memcpy(&out->head, buf, sizeof(Msg));
  if (out->head.magic != kMagic || out->head.len > kMaxPayload || sizeof(Msg) + out->head.len != n) return false;
  out->payload = static_cast<const char*>(buf) + sizeof(Msg);
  out->len = out->head.len;
  return true;
}

// A payload that names a file (kSave, kEnd): empty, or an absolute path
// without NUL bytes (the daemon runs in /; a NUL would cut the name short).
inline bool path_payload(const Parsed& m) {
  return m.len == 0 || (m.payload[0] == '/' && memchr(m.payload, 0, m.len) == nullptr);
}

}  // namespace cr::proto
