"""Optional benchmark peers from the system: oneTBB and Concurrency Kit.

bench_peer_libs() declares @ringlock_bench_peers with two targets, :tbb and
:ck. When the Debian package is installed (libtbb-dev, libck-dev) the target
links the library and defines RINGLOCK_BENCH_HAVE_TBB / RINGLOCK_BENCH_HAVE_CK;
otherwise it is empty and the benchmark prints "not built: install <package>"
for the peers it lacks. Nothing outside bench/ depends on it, so a missing
package never breaks the build or the tests. After installing a package,
`./bazelw sync --only=ringlock_bench_peers` makes Bazel look again.
"""

_PEERS = {
    # target: (header that must exist, library, define, Debian package)
    "tbb": ("/usr/include/oneapi/tbb/queuing_mutex.h", "tbb", "RINGLOCK_BENCH_HAVE_TBB", "libtbb-dev"),
    "ck": ("/usr/include/ck_spinlock.h", "ck", "RINGLOCK_BENCH_HAVE_CK", "libck-dev"),
}

def _bench_peer_libs_impl(rctx):
    lines = ["package(default_visibility = [\"//visibility:public\"])", ""]
    for name, (header, lib, define, package) in _PEERS.items():
        if rctx.path(header).exists:
            lines.append("cc_library(name = \"%s\", defines = [\"%s\"], linkopts = [\"-l%s\"])" %
                         (name, define, lib))
        else:
            lines.append("# %s is missing: apt-get install %s" % (header, package))
            lines.append("cc_library(name = \"%s\")" % name)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD.bazel", "\n".join(lines) + "\n")

_bench_peer_libs = repository_rule(
    implementation = _bench_peer_libs_impl,
    local = True,
    doc = "Exposes oneTBB and Concurrency Kit when installed, empty targets otherwise.",
)

def bench_peer_libs():
    if not native.existing_rule("ringlock_bench_peers"):
        _bench_peer_libs(name = "ringlock_bench_peers")
