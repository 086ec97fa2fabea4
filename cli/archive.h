// Carrying an image to another machine (archive.cc): `cowroot image export
// NAME FILE` and `cowroot image import FILE [NAME]`.
#pragma once
#include <string>

namespace cli {

// Writes the image NAME (its tree, its fake state by path, its seal's
// manifest, its info and a layer's setup script) into FILE, one tar
// archive with the SHA-256 of every file in it (compressed by FILE's
// suffix: .gz, .xz, .zst, .bz2). An image changed since it was sealed is
// refused. FILE appears whole or not at all. 0, or -1 with err.
int export_image(const std::string& name, const std::string& file, std::string* err);

// Imports an archive of export_image into the cache as NAME (default: the
// name it was exported under), verified first: every file's checksum, the
// tree against the archive's listing and the seal's manifest. A damaged,
// truncated or tampered archive leaves nothing, and an existing image of
// that name is never replaced. 0, or -1 with err.
int import_image(const std::string& file, const std::string& name, std::string* err);

}  // namespace cli
