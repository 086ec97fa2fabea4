// The cowroot-faked wire protocol: SOCK_SEQPACKET messages on DIR/sock.
// Every message starts with Msg; anything else closes the connection.
#pragma once
#include <cstdint>

namespace cr::proto {

constexpr uint32_t kMagic = 0x31575243;  // "CRW1"
constexpr uint32_t kMaxPayload = 8192;

enum Op : uint32_t {
  kPing = 1,    // -> kOk, value = daemon pid
  kSave = 2,    // payload: path (may be empty: the session's -s file) -> kOk / kError(text)
  kEnd = 3,     // the launcher's command has exited -> kOk, value = other live connections
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

}  // namespace cr::proto
