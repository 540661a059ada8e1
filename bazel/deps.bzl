"""ringlock's external dependencies, for WORKSPACE users.

    load("@ringlock//bazel:deps.bzl", "ringlock_deps")
    ringlock_deps()

Repositories the caller already defined are left alone, so a workspace that
brings its own abseil or googletest keeps it.
"""

load("//bazel:system_libs.bzl", "ABSL_TARGETS", "absl_system_library", "system_library")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def ringlock_deps():
    """Declares liburing, abseil, GoogleTest and Google Benchmark from the system."""
    _maybe(
        system_library,
        name = "liburing",
        headers = ["liburing.h", "liburing"],
        build_file = Label("//third_party:liburing.BUILD"),
        debian_package = "liburing-dev",
    )
    _maybe(
        absl_system_library,
        name = "com_google_absl",
        targets = ABSL_TARGETS,
    )
    _maybe(
        system_library,
        name = "com_google_googletest",
        headers = ["gtest", "gmock"],
        build_file = Label("//third_party:googletest.BUILD"),
        debian_package = "libgtest-dev libgmock-dev",
    )
    _maybe(
        system_library,
        name = "com_google_benchmark",
        headers = ["benchmark"],
        build_file = Label("//third_party:benchmark.BUILD"),
        debian_package = "libbenchmark-dev",
    )
