// The image cache of `cowroot run` and `cowroot image` (see images.cc).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace cli {

struct ImageSpec {
  std::string name = "bookworm";
  std::string suite;  // default: the name
  std::string variant = "minbase";
  std::string include;  // extra packages, comma-separated
  std::string mirror;   // default: the host's apt sources
  std::string keyring;  // debootstrap --keyring (another distribution's archive key); default: debootstrap's
  bool force = false;   // rebuild even if present (refresh)
  // Which of the above were given (the others are defaults): an existing
  // image must match what was given.
  bool given_suite = false, given_variant = false, given_include = false, given_mirror = false;
};

// The options an image was built with (its info file), with the ones
// `given` says were given over them: a refresh rebuilds what was built.
ImageSpec recorded_spec(const std::string& name, const ImageSpec& given);

std::string cache_dir();
std::string image_root(const std::string& name);
bool image_exists(const std::string& name);
int build_image(const ImageSpec& spec, std::string* err);
// An existing image built with other options than `spec` gives: -1 with
// err naming the difference (an image's identity is all its options).
int check_identity(const ImageSpec& spec, std::string* err);
int ensure_image(const std::string& name, long max_age_seconds, std::string* err);
void list_images();
int remove_image(const std::string& name, std::string* err);

}  // namespace cli
