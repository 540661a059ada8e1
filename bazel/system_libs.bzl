"""Repository rules that expose Debian's system libraries under their canonical names.

A consumer's BUILD files say `@com_google_absl//absl/status` whether the
dependency comes from source (http_archive) or from the distribution, the same
way TensorFlow's "system libs" mechanism works. This file implements the
distribution side: each repository symlinks the library's headers from the
system include directory and writes a BUILD file whose targets link the
system's shared libraries.
"""

def _system_library_impl(rctx):
    include_dir = rctx.attr.include_dir
    for entry in rctx.attr.headers:
        src = rctx.path(include_dir + "/" + entry)
        if not src.exists:
            fail(("system library @%s: %s is missing. Install the Debian package %s " +
                  "(apt-get install -y --no-install-recommends %s) or use the source " +
                  "dependencies (ringlock_deps(system_libs = False)).") %
                 (rctx.name, src, rctx.attr.debian_package, rctx.attr.debian_package))
        rctx.symlink(src, "include/" + entry)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.template("BUILD.bazel", rctx.attr.build_file, executable = False)

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "build_file": attr.label(mandatory = True, allow_single_file = True),
        "headers": attr.string_list(mandatory = True, doc = "Entries under include_dir to expose."),
        "include_dir": attr.string(default = "/usr/include"),
        "debian_package": attr.string(mandatory = True),
    },
    local = True,
    doc = "Exposes a library installed by the system package manager.",
)

def _absl_package_impl(rctx):
    # Abseil from /usr: one header target at the root and, per package, the
    # targets ringlock and its users name, linking Debian's shared libraries
    # (each .so records its own dependencies).
    rctx.symlink(rctx.path("/usr/include/absl"), "include/absl")
    if not rctx.path("/usr/include/absl/base/config.h").exists:
        fail("@com_google_absl: /usr/include/absl is missing. Install libabsl-dev " +
             "(apt-get install -y --no-install-recommends libabsl-dev).")
    rctx.file("WORKSPACE", "workspace(name = \"com_google_absl\")\n")
    rctx.file("BUILD.bazel", "\n".join([
        "package(default_visibility = [\"//visibility:public\"])",
        "cc_library(name = \"headers\", hdrs = glob([\"include/absl/**/*.h\", \"include/absl/**/*.inc\"]), includes = [\"include\"])",
        "",
    ]))
    packages = {}
    for label, libs in rctx.attr.targets.items():
        package, name = label.split(":")
        packages.setdefault(package, []).append(
            "cc_library(name = \"%s\", deps = [\"//:headers\"], linkopts = [%s])" %
            (name, ", ".join(["\"-l%s\"" % lib for lib in libs])),
        )
    for package, rules in packages.items():
        rctx.file(package + "/BUILD.bazel", "\n".join(
            ["package(default_visibility = [\"//visibility:public\"])"] + rules + [""],
        ))

absl_system_library = repository_rule(
    implementation = _absl_package_impl,
    attrs = {"targets": attr.string_list_dict(mandatory = True)},
    local = True,
)

# The abseil targets ringlock and its examples use, with the shared library
# each needs. Labels are the upstream ones.
ABSL_TARGETS = {
    "absl/base:core_headers": [],
    "absl/base:base": ["absl_base"],
    "absl/cleanup:cleanup": [],
    "absl/functional:any_invocable": [],
    "absl/functional:function_ref": [],
    "absl/status:status": ["absl_status"],
    "absl/status:statusor": ["absl_statusor", "absl_status"],
    "absl/strings:strings": ["absl_strings"],
    "absl/strings:str_format": ["absl_str_format_internal", "absl_strings"],
    "absl/synchronization:synchronization": ["absl_synchronization"],
    "absl/time:time": ["absl_time"],
    "absl/types:span": [],
}
