#include "locks/internal/check.h"

#include <cstdio>
#include <cstdlib>

namespace ringlock::internal {

void Misuse(const char* primitive, const char* what) {
  std::fprintf(stderr, "%s: misuse: %s\n", primitive, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ringlock::internal
