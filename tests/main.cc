// doctest main for every suite: it drops root first (tests/drop_root.h).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "drop_root.h"

int main(int argc, char** argv) {
  if (!test::drop_root()) return 2;
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
