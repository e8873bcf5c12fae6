#pragma once

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "io/driver.h"
#include "testing/test_runtime.h"

namespace veloq::testing {

// A test suite that runs every test on both driver backends (io_uring and
// epoll), so both stay correct:
//
//   class TcpTest : public veloq::testing::DriverBackendTest {};
//   VELOQ_INSTANTIATE_DRIVER_BACKENDS(TcpTest);
//   TEST_P(TcpTest, Echo) { RunOnRuntime(Options(), ...); }
class DriverBackendTest : public ::testing::TestWithParam<io::Backend> {
 protected:
  // A runtime of `shards` shards whose drivers use this test's backend.
  TestRuntimeOptions Options(uint32_t shards = 1, io::DriverOptions d = {}) {
    d.backend = GetParam();
    TestRuntimeOptions o;
    o.shards = shards;
    o.parkers = io::DriverParkers(d);
    return o;
  }
  bool uring() const { return GetParam() == io::Backend::kUring; }
};

// "Uring" / "Epoll", for test names.
inline std::string BackendName(const ::testing::TestParamInfo<io::Backend>& i) {
  return i.param == io::Backend::kUring ? "Uring" : "Epoll";
}

}  // namespace veloq::testing

#define VELOQ_INSTANTIATE_DRIVER_BACKENDS(suite)                            \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                 \
                           ::testing::Values(::veloq::io::Backend::kUring,  \
                                             ::veloq::io::Backend::kEpoll), \
                           ::veloq::testing::BackendName)
