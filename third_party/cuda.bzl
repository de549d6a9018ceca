"""cuda_library: sources compiled by nvcc in a genrule, wrapped as cc_library.

Only builds with `--config=cuda` (`--define=cuda=1`, config setting
//kernels:cuda_enabled). Without it the library is an empty header-only
cc_library and nvcc never runs, so `bazel build //...` works on machines
without the CUDA toolkit.

C++ files that include CUDA headers (.cc) go through nvcc too: Bazel's
header-inclusion check rejects /usr/local/cuda/include in a cc_library,
while nvcc adds it itself. Keep headers that plain cc_* targets include free
of CUDA headers.

Usage:
    load("//third_party:cuda.bzl", "cuda_library")
    cuda_library(
        name = "kernels",
        srcs = ["a.cu", "b.cc"],        # compiled by nvcc (.cc: host only)
        hdrs = ["kernels.h"],           # public headers, free of CUDA headers
        cu_hdrs = ["common.cuh"],       # private headers nvcc reads
        deps = ["//kernels:ops"],       # cc deps: headers reach nvcc, libs
                                        # reach the link
    )
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

CUDA_HOME = "/usr/local/cuda"

# A100 (sm_80) and H100/H200 (sm_90), as SASS; no PTX fallback needed.
NVCC_FLAGS = [
    "-O3",
    "-std=c++17",
    "-gencode arch=compute_80,code=sm_80",
    "-gencode arch=compute_90,code=sm_90",
    "-Xcompiler -fPIC",
    "-I.",
    "-I$(GENDIR)",
]

CUDA_LINKOPTS = [
    "-L" + CUDA_HOME + "/lib64",
    "-lcublas",
    "-lcudart",
    "-Wl,-rpath," + CUDA_HOME + "/lib64",
]

def _cc_headers_impl(ctx):
    return [DefaultInfo(files = depset(transitive = [
        dep[CcInfo].compilation_context.headers
        for dep in ctx.attr.deps
    ]))]

# The headers of cc deps as plain files, for the nvcc genrule's inputs.
_cc_headers = rule(
    implementation = _cc_headers_impl,
    attrs = {"deps": attr.label_list(providers = [CcInfo])},
)

def cuda_library(name, srcs, hdrs = [], cu_hdrs = [], deps = [], nvcc_flags = [], **kwargs):
    """A cc_library whose objects come from nvcc; empty unless --config=cuda."""
    archive = "lib%s_cu.a" % name
    flags = " ".join(NVCC_FLAGS + nvcc_flags)
    cmds = [
        "set -e",
        "tmp=$$(mktemp -d)",
        "trap 'rm -rf $$tmp' EXIT",
    ]
    for i, src in enumerate(srcs):
        cmds.append("%s/bin/nvcc %s -c $(location %s) -o $$tmp/%d.o" %
                    (CUDA_HOME, flags, src, i))
    cmds.append("ar rcs $@ $$tmp/*.o")

    _cc_headers(
        name = name + "_dep_hdrs",
        deps = deps,
        tags = ["manual"],
        visibility = ["//visibility:private"],
    )

    native.genrule(
        name = name + "_nvcc",
        srcs = srcs + hdrs + cu_hdrs + [":" + name + "_dep_hdrs"],
        outs = [archive],
        cmd = " && ".join(cmds),
        message = "nvcc " + name,
        # Built only through :name under --config=cuda, never by //... alone.
        tags = ["manual"],
        visibility = ["//visibility:private"],
    )

    cc_library(
        name = name,
        srcs = select({
            "//kernels:cuda_enabled": [":" + archive],
            "//conditions:default": [],
        }),
        hdrs = hdrs,
        linkopts = select({
            "//kernels:cuda_enabled": CUDA_LINKOPTS,
            "//conditions:default": [],
        }),
        deps = deps,
        **kwargs
    )
