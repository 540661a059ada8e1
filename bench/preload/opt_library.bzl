"""opt_library: a file of a target (a shared library) built with --compilation_mode=opt.

The runner must compare against the optimized library (-O2 -DNDEBUG: no debug
misuse checks) whatever the command line says, as bench/opt_binary.bzl does
for the benchmark binaries.
"""

def _opt_transition_impl(settings, attr):
    return {"//command_line_option:compilation_mode": "opt"}

_opt_transition = transition(
    implementation = _opt_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:compilation_mode"],
)

def _opt_library_impl(ctx):
    src = ctx.attr.src
    if type(src) == "list":  # 1:1 transitions give a list on some Bazel versions
        src = src[0]
    files = src[DefaultInfo].files.to_list()
    if len(files) != 1:
        fail("opt_library: %s must give exactly one file" % ctx.attr.src)
    out = ctx.actions.declare_file(ctx.attr.out)
    ctx.actions.symlink(output = out, target_file = files[0])
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out, files[0]]))]

opt_library = rule(
    implementation = _opt_library_impl,
    attrs = {
        "src": attr.label(cfg = _opt_transition, mandatory = True),
        "out": attr.string(mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    doc = "Re-exports the one file of `src`, built with --compilation_mode=opt, as `out`.",
)
