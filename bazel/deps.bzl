"""ringlock's external dependencies, for WORKSPACE users (Bazel 4 to 6).

    load("@ringlock//bazel:deps.bzl", "ringlock_deps")
    ringlock_deps()                      # Debian/Ubuntu packages from /usr
    ringlock_deps(system_libs = False)   # pinned source releases

Either way the repositories get the names ringlock's BUILD files use:
@liburing, @com_google_absl, @com_google_googletest, @com_google_benchmark
(the last two only for tests and benchmarks; Bazel fetches a repository only
when something builds from it). Every repository is declared `maybe`-style:
a name the calling WORKSPACE already defined (before calling this macro) is
left alone, so a workspace that brings its own abseil or googletest keeps it.

The source releases are the ones the Bazel Central Registry lists for the
same versions MODULE.bazel asks for, with the registry's sha256, so the
WORKSPACE and bzlmod graphs build the same code. Bzlmod users do not call this
macro (see MODULE.bazel and docs/BAZEL.md).
"""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
load("//bazel:system_libs.bzl", "ABSL_TARGETS", "absl_system_library", "system_library")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

# Source releases: version, URL, sha256 and prefix, each copied from the Bazel
# Central Registry's modules/<name>/<version>/source.json (its SRI integrity
# converted to hex). Keep the versions equal to MODULE.bazel's.
SOURCE_RELEASES = {
    "liburing": struct(
        version = "2.10",
        url = "https://github.com/axboe/liburing/archive/refs/tags/liburing-2.10.tar.gz",
        sha256 = "0a687616a6886cd82b746b79c4e33dc40b8d7c0c6e24d0f6f3fd7cf41886bf53",
        strip_prefix = "liburing-liburing-2.10",
    ),
    "com_google_absl": struct(
        version = "20230802.1",
        url = "https://github.com/abseil/abseil-cpp/archive/refs/tags/20230802.1.tar.gz",
        sha256 = "987ce98f02eefbaf930d6e38ab16aa05737234d7afbab2d5c4ea7adbe50c28ed",
        strip_prefix = "abseil-cpp-20230802.1",
    ),
    "com_google_googletest": struct(
        version = "1.14.0",
        url = "https://github.com/google/googletest/archive/refs/tags/v1.14.0.tar.gz",
        sha256 = "8ad598c73ad796e0d8280b082cebd82a630d73e73cd3c70057938a6501bba5d7",
        strip_prefix = "googletest-1.14.0",
    ),
    "com_google_benchmark": struct(
        version = "1.8.3",
        url = "https://github.com/google/benchmark/archive/refs/tags/v1.8.3.tar.gz",
        sha256 = "6bc180a57d23d4d9515519f92b0c83d61b05b5bab188961f36ac7b06b0d9e9ce",
        strip_prefix = "benchmark-1.8.3",
    ),
    # abseil's BUILD files load @bazel_skylib.
    "bazel_skylib": struct(
        version = "1.4.2",
        url = "https://github.com/bazelbuild/bazel-skylib/releases/download/1.4.2/bazel-skylib-1.4.2.tar.gz",
        sha256 = "66ffd9315665bfaafc96b52278f57c7e2dd09f5ede279ea6d39b2be471e7e3aa",
        strip_prefix = "",
    ),
}

def _system_deps():
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

def _source_archive(name, **kwargs):
    release = SOURCE_RELEASES[name]
    _maybe(
        http_archive,
        name = name,
        urls = [release.url],
        sha256 = release.sha256,
        strip_prefix = release.strip_prefix,
        **kwargs
    )

def _source_deps():
    # liburing has no Bazel build upstream: ours runs its configure.
    _source_archive("liburing", build_file = Label("//third_party:liburing.source.BUILD"))
    _source_archive("com_google_absl")
    _source_archive("com_google_googletest")
    _source_archive("com_google_benchmark")
    _source_archive("bazel_skylib")

def ringlock_deps(system_libs = True):
    """Declares liburing, abseil, GoogleTest and Google Benchmark.

    Args:
      system_libs: True (default) to use the libraries the system package
        manager installed under /usr (Debian/Ubuntu: liburing-dev libabsl-dev
        libgtest-dev libgmock-dev libbenchmark-dev), which works offline;
        False to download and build the pinned source releases
        (SOURCE_RELEASES) with http_archive.
    """
    if system_libs:
        _system_deps()
    else:
        _source_deps()
