"""Shared compiler flags and rule wrappers for Veloq's own code.

Every project target goes through these macros so that warnings are errors for
our code (and only for our code: system headers are not affected).
"""

VELOQ_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

def veloq_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = VELOQ_COPTS + copts, **kwargs)

def veloq_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = VELOQ_COPTS + copts, **kwargs)

def veloq_cc_test(name, copts = [], deps = [], size = "small", **kwargs):
    native.cc_test(
        name = name,
        copts = VELOQ_COPTS + copts,
        size = size,
        deps = deps + ["//third_party:gtest_main"],
        **kwargs
    )

def veloq_cc_benchmark(name, copts = [], deps = [], **kwargs):
    """A Google Benchmark binary: run it with `bazel run -c opt`."""
    native.cc_binary(
        name = name,
        testonly = True,
        copts = VELOQ_COPTS + copts,
        deps = deps + ["//third_party:benchmark_main"],
        **kwargs
    )
