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
// Makes the cache directory when missing: false with err.
bool make_cache_dir(std::string* err);
// Letters, digits, - _ . + (at most 64, not starting with a dot), and
// none of the cache's own suffixes in it (kCacheSuffixes).
bool valid_name(const std::string& name);
// "invalid image name 'NAME' (why)", for a name valid_name refuses.
std::string invalid_name(const std::string& name);
// What the cache keeps beside an image NAME: NAME.lock, NAME.build-PID,
// NAME.old-PID, NAME.runs, NAME.failed.log. An image named so would be
// another image's (`image rm twin.runs` would remove twin's pool).
extern const char* const kCacheSuffixes[5];
// NAME/info: KEY=VALUE lines.
std::map<std::string, std::string> read_info(const std::string& path);
// A new image's id (the `id` line of its info): 32 random hex digits.
std::string new_image_id();
// What tells this build of an image from any other (a layer records its
// parent's): its info's id, or for an image built before ids, a digest of
// its info. "" when there is no such image.
std::string image_identity(const std::string& name);
std::string image_root(const std::string& name);
// A cached image of that (valid) name.
bool image_exists(const std::string& name);
int build_image(const ImageSpec& spec, std::string* err);
// Whether debootstrap has a script for the suite (it can build it).
bool debootstrap_knows(const std::string& suite);
// Why debootstrap could not take `mirror` (http://, https://, ftp://,
// file:PATH or ssh:, nothing else, no spaces: it splits on them), or "".
std::string mirror_problem(const std::string& mirror);
// When there is no image NAME but a build of it is under way (its lock is
// held: the first build of a suite or a layer, or an import), waits for
// that build to end (saying so on stderr). False with err when it waited
// and the build left no image; true otherwise (nothing to wait for, or
// the image is there now).
bool wait_for_build(const std::string& name, std::string* err);
// The layers in the cache made from `name`, and those being built from
// it now (by name, each once).
std::vector<std::string> layers_of(const std::string& name, std::vector<std::string>* building);
// An existing image built with other options than `spec` gives: -1 with
// err naming the difference (an image's identity is all its options).
int check_identity(const ImageSpec& spec, std::string* err);
int ensure_image(const std::string& name, long max_age_seconds, std::string* err);
// COWROOT_IMAGE_MAX_AGE_DAYS (default 30) in seconds.
long max_age_seconds();
// `cowroot image ...` (image_cmd.cc).
int cmd_image(int argc, char** argv);
void list_images();
int remove_image(const std::string& name, std::string* err);

}  // namespace cli
