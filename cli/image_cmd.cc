// `cowroot image ...`: the image cache from the command line.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "archive.h"
#include "images.h"
#include "layers.h"

namespace cli {

namespace {

const char kUsage[] =
    "usage: cowroot image build|refresh|path [NAME] [--suite S] [--variant V] [--include PKGS] [--mirror URL]\n"
    "                                              [--keyring FILE]\n"
    "       cowroot image build|refresh|path NAME --from PARENT [--include PKGS] [--copy HOST:INSIDE]... [--run SCRIPT]\n"
    "       cowroot image list | rm NAME (or remove) | export NAME FILE | import FILE [NAME]\n"
    "\n"
    "  build    build NAME (default bookworm: a debootstrap of the suite NAME, or --suite, from the host's\n"
    "           apt mirror or --mirror, checked with debootstrap's keyring or --keyring, as for Ubuntu's\n"
    "           archive); an existing image is rebuilt,\n"
    "           an existing layer only when its inputs or its parent changed\n"
    "  refresh  build NAME again, with the options it was built with unless others are given\n"
    "  path     print the path of NAME's root, building it first when it is missing (or a layer whose\n"
    "           inputs changed, or an image older than COWROOT_IMAGE_MAX_AGE_DAYS)\n"
    "  --from PARENT     a layer: a clone of the cached image PARENT made a sealed image of its own by\n"
    "                    the steps, in this order, as fake root inside:\n"
    "  --include PKGS    apt-get installs the packages (comma-separated)\n"
    "  --copy HOST:INSIDE  the host file (to INSIDE, or under INSIDE/ when it ends in /) or directory\n"
    "                    (its content into INSIDE) is copied in; may be given more than once\n"
    "  --run SCRIPT      the host script SCRIPT runs inside (with sh -e, unless it starts with #!);\n"
    "                    --run - reads it from standard input, and the steps name it setup\n"
    "  export   NAME and its fake state into FILE, one archive with a checksum of every file\n"
    "           (compressed when FILE ends in .gz, .xz or .zst)\n"
    "  import   an archive of export into the cache (as NAME, or the name it was exported under),\n"
    "           verified first: a damaged or tampered archive leaves nothing\n";

[[noreturn]] void die(const std::string& msg, int code = 1) {
  fprintf(stderr, "cowroot: %s\n", msg.c_str());
  exit(code);
}

[[noreturn]] void usage_error(const std::string& msg) {
  fprintf(stderr, "cowroot: %s (cowroot image --help)\n", msg.c_str());
  exit(2);
}

int build_verbs(const std::string& verb, int argc, char** argv) {
  ImageSpec spec;
  LayerSpec layer;
  bool from = false, steps = false;
  std::string err;
  bool named = false;
  for (int i = 3; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&](const char* opt, std::string* into) {
      std::string o = opt;
      if (a == o) {
        if (i + 1 >= argc) usage_error("image " + verb + ": " + o + " needs a value");
        *into = argv[++i];
        return true;
      }
      if (a.rfind(o + "=", 0) == 0) return *into = a.substr(o.size() + 1), true;
      return false;
    };
    std::string v;
    if (val("--suite", &spec.suite)) spec.given_suite = true;
    else if (val("--variant", &spec.variant)) spec.given_variant = true;
    else if (val("--include", &spec.include)) spec.given_include = true;
    else if (val("--mirror", &spec.mirror)) {
      // (An empty one would mean the host's: said, not taken silently.)
      if (spec.mirror.empty()) usage_error("image " + verb + ": --mirror '': an empty URL (leave the option out for the host's mirror)");
      spec.given_mirror = true;
    }
    else if (val("--keyring", &spec.keyring)) continue;  // checks the archive's signature; not part of what an image is
    else if (val("--from", &layer.parent)) from = true;
    else if (val("--run", &layer.script)) steps = true;
    else if (val("--copy", &v)) {
      size_t colon = v.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == v.size())
        usage_error("image " + verb + ": --copy " + v + ": not HOST:INSIDE");
      layer.copies.push_back({v.substr(0, colon), v.substr(colon + 1)});
      steps = true;
    } else if (a.size() > 1 && a[0] == '-') usage_error("image " + verb + ": unknown option " + a);
    else if (named) usage_error("image " + verb + ": one image at a time (" + spec.name + ", " + a + ")");
    else spec.name = a, named = true;
  }
  if (steps && !from) usage_error("image " + verb + ": --run and --copy make a layer: give its parent with --from");
  LayerSpec recorded;
  if (!from && verb == "refresh" && recorded_layer(spec.name, &recorded)) {
    // A layer again, from what it was made of (its script as it ran).
    if (spec.given_suite || spec.given_variant || spec.given_include || spec.given_mirror)
      usage_error("image refresh " + spec.name + ": a layer is refreshed as it was made (or give --from and its steps)");
    if (ensure_layer(recorded, LayerBuild::kAlways, &err) < 0) die(err);
    return 0;
  }
  if (from) {
    if (spec.given_variant || spec.given_mirror)
      usage_error("image " + verb + ": a layer takes its variant and mirror from its parent (--from " + layer.parent + ")");
    layer.name = spec.name;
    layer.include = spec.include;
    if (spec.given_suite) layer.suite = spec.suite;
    if (layer.script == "-") {
      // No file to leave behind (the test fixture's scripts): its text,
      // named as a script file called setup would be, so the image is the
      // same as one made from such a file.
      std::string text;
      char buf[65536];
      for (size_t n; (n = fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
      if (ferror(stdin)) die("image " + verb + " " + spec.name + ": --run -: standard input: " + strerror(errno));
      layer.text = text;
      layer.script_name = "setup";
    }
    if (ensure_layer(layer, verb == "refresh" ? LayerBuild::kAlways : LayerBuild::kIfChanged, &err) < 0) die(err);
    if (verb == "path") printf("%s\n", image_root(spec.name).c_str());
    return 0;
  }
  if (verb == "path") {
    // The image's root, built first if missing (with the options given)
    // or refreshed when older than COWROOT_IMAGE_MAX_AGE_DAYS: what the
    // test fixture and scripts use. An image of this name built with
    // other options is not these options' image.
    // (An image whose first build is under way: once it is built.)
    if (!wait_for_build(spec.name, &err)) die(err);
    if (check_identity(spec, &err) < 0) die(err);
    int r = image_exists(spec.name) ? ensure_image(spec.name, max_age_seconds(), &err) : build_image(spec, &err);
    if (r < 0) die(err);
    printf("%s\n", image_root(spec.name).c_str());
    return 0;
  }
  if (recorded_layer(spec.name, &recorded))
    die("image " + spec.name + " is a layer of " + recorded.parent + ": build it with --from " + recorded.parent +
        " and its steps, or refresh it");
  // Rebuilding an image (refresh, or build of one that exists) keeps the
  // options it was built with, unless given again.
  if (image_exists(spec.name)) spec = recorded_spec(spec.name, spec);
  spec.force = verb == "refresh" || image_exists(spec.name);
  if (build_image(spec, &err) < 0) die(err);
  return 0;
}

}  // namespace

int cmd_image(int argc, char** argv) {
  std::string verb = argc >= 3 ? argv[2] : "";
  std::string err;
  if (verb == "-h" || verb == "--help") {
    fputs(kUsage, stdout);
    return 0;
  }
  if (verb == "list" && argc == 3) {
    list_images();
    return 0;
  }
  if (verb == "build" || verb == "refresh" || verb == "path") return build_verbs(verb, argc, argv);
  if ((verb == "rm" || verb == "remove") && argc == 4) {  // "remove" as the issue and users say it
    if (remove_image(argv[3], &err) < 0) die(err);
    return 0;
  }
  if (verb == "export" && argc == 5) {
    if (export_image(argv[3], argv[4], &err) < 0) die(err);
    return 0;
  }
  if (verb == "import" && (argc == 4 || argc == 5)) {
    if (import_image(argv[3], argc == 5 ? argv[4] : "", &err) < 0) die(err);
    return 0;
  }
  if (verb == "_layer") return run_layer_steps(argc, argv);
  usage_error(verb.empty() ? "image: what to do?" : "image " + verb + ": wrong arguments");
}

}  // namespace cli
