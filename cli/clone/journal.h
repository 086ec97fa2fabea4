// A clone's change journal as `cowroot reset` reads it (reset.cc), on
// its own so that the tests and the fuzzer can call it on any input.
// Allocates: the command line's side only.
#pragma once
#include <istream>
#include <string>
#include <unordered_set>
#include <vector>

namespace cr {

// The journal (CLONE.cowroot/journal): one name a line, relative to the
// clone, as the library recorded what it changed. Fills `paths` with each
// name once (normalised: no `.`, no empty or doubled slashes) and `touched`
// with those names and their parent directories ("." for the top). False
// when the journal cannot be trusted (an absolute name, a `..`): the
// library never writes those, so reset re-clones instead.
bool read_journal(std::istream& in, std::vector<std::string>* paths, std::unordered_set<std::string>* touched);

}  // namespace cr
