// The heap of a program that churns through block buffers.
#pragma once

#include <string>
#include <string_view>

namespace vt {

// Block buffers come and go by the thousand, and on these virtual machines
// a page fault costs ~12 us: filling a 256 MiB block cache took ~85,000 of
// them. One malloc arena on transparent huge pages takes ~1,000, and freed
// memory stays in the process. glibc reads its tunables only at start, so
// this re-executes the program once with them added to GLIBC_TUNABLES (a
// setting already there is the user's and is kept). Call it first in main;
// it returns in the re-executed program, or when the exec fails.
void use_block_heap(char** argv);

// The GLIBC_TUNABLES to run with, given the current value; empty when it
// holds every setting already.
std::string block_heap_tunables(std::string_view current);

}  // namespace vt
