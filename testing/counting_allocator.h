#pragma once

#include <cstdint>

namespace veloq::testing {

// Linking //testing:counting_allocator into a test binary replaces the
// global operator new/delete with versions that count every allocation, so a
// test can prove a hot path does not allocate:
//
//   const uint64_t before = AllocationCount();
//   ... warm path ...
//   EXPECT_EQ(AllocationCount() - before, 0u);
//
// Thread-safe (a relaxed atomic counter).
uint64_t AllocationCount();

}  // namespace veloq::testing
