"""opt_binary / opt_library: a binary, or a target's one file (the preload's
shared library), built with --compilation_mode=opt, whatever the command line says.

`./bazelw run //bench:mutex_bench` must measure optimized code (-O2 -DNDEBUG,
also in //locks, whose slow paths live in .cc files) even when the user types
no flags. A copts = ["-O2"] on the cc_binary would optimize only the bench's
own translation unit. This rule applies a configuration transition to its
`binary` and re-exports it as its own executable, so the whole dependency
graph is built in opt mode. --config=opt gives the same build.
"""

def _opt_transition_impl(settings, attr):
    return {"//command_line_option:compilation_mode": "opt"}

_opt_transition = transition(
    implementation = _opt_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:compilation_mode"],
)

def _opt_binary_impl(ctx):
    binary = ctx.attr.binary
    if type(binary) == "list":  # 1:1 transitions give a list on some Bazel versions
        binary = binary[0]
    info = binary[DefaultInfo]
    src = info.files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = src, is_executable = True)
    runfiles = ctx.runfiles(files = [src]).merge(info.default_runfiles)
    return [DefaultInfo(executable = out, runfiles = runfiles, files = depset([out]))]

opt_binary = rule(
    implementation = _opt_binary_impl,
    executable = True,
    attrs = {
        "binary": attr.label(
            cfg = _opt_transition,
            executable = True,
            mandatory = True,
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    doc = "Re-exports `binary`, built with --compilation_mode=opt.",
)

# The runner of bench/preload compares against the optimized library (-O2
# -DNDEBUG: no debug misuse checks), whatever the command line says.
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
