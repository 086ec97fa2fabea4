// SHA-256 (FIPS 180-4), for what identifies a layer's inputs and for the
// checksums of an exported image.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cli {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // the digest, 64 hex digits; the object is spent

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t fill_ = 0;
  uint64_t total_ = 0;
};

std::string sha256(const std::string& s);
// The digest of a file's content: "" with err set when it cannot be read.
std::string sha256_file(const std::string& path, std::string* err);

}  // namespace cli
