#pragma once

#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace veloq::runtime::internal {

// StatusOrFor<T> is the status-carrying type for a result of type T without
// double wrapping: void -> Status, Status -> Status, StatusOr<U> ->
// StatusOr<U>, anything else U -> StatusOr<U>.
template <typename T>
struct StatusOrFor {
  using type = absl::StatusOr<T>;
};
template <>
struct StatusOrFor<void> {
  using type = absl::Status;
};
template <>
struct StatusOrFor<absl::Status> {
  using type = absl::Status;
};
template <typename U>
struct StatusOrFor<absl::StatusOr<U>> {
  using type = absl::StatusOr<U>;
};
template <typename T>
using StatusOrFor_t = typename StatusOrFor<T>::type;

// The status inside any result: OK for plain values.
inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename U>
absl::Status StatusOf(const absl::StatusOr<U>& s) {
  return s.status();
}
template <typename T>
absl::Status StatusOf(const T&) {
  return absl::OkStatus();
}

}  // namespace veloq::runtime::internal
