// Layered images (layers.cc): an image made from a parent image of the
// cache by a setup step (packages installed, files copied in, a script run
// inside as fake root), built once, sealed and cached, and rebuilt only when
// its inputs change.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cli {

struct LayerSpec {
  std::string name, parent;
  std::string include;  // packages apt-get installs first, comma-separated
  // HOST:INSIDE copies, in order, after the packages: a file (into INSIDE,
  // or under it when INSIDE ends in '/'), or a directory's content.
  std::vector<std::pair<std::string, std::string>> copies;
  std::string script;       // host path of the setup script, run last ("" for none)
  std::string script_name;  // how steps and `image list` name it (default: the path given)
  // The script's text when it was read already (`--run -`: standard
  // input, which cannot be read twice); `script` is then only its mark.
  std::optional<std::string> text;
  std::string suite;        // given: must be the parent's
};

enum class LayerBuild {
  kIfChanged,  // build when missing or when its inputs changed (path, build)
  kAlways,     // refresh
};

// The layer `spec.name` current: its parent made first when it is missing
// (a suite name) or old, then the layer built when missing, when its inputs
// or its parent changed, or always. A layer whose parent is not in the
// cache (an imported one) is current when its own inputs are the same.
// 0, or -1 with err (one line; a failed step is named).
int ensure_layer(const LayerSpec& spec, LayerBuild how, std::string* err);

// Whether every host file or directory the layer copies can still be
// read: a layer whose copied file is gone stays as it is (not rebuilt).
bool copies_readable(const LayerSpec& spec);

// The spec a layer was built from (its info), for `image refresh NAME`:
// false when NAME is no layer.
bool recorded_layer(const std::string& name, LayerSpec* out);

// `cowroot image _layer WORK PARENT_ROOT [--include P] [--copy H:I]...
// [--run FILE NAME]`: the steps of a layer's build, run under the build's
// guard: WORK/root is made a clone of the parent and the steps run in it.
int run_layer_steps(int argc, char** argv);

}  // namespace cli
