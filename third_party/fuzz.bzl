"""fuzz_target: a libFuzzer target and its seed-corpus regression test.

`name` is a binary: under `--config=fuzz` (clang, -fsanitize=fuzzer,address,
undefined; config setting //third_party:fuzzing) it is a libFuzzer fuzzer;
otherwise it replays the files and folders named on its command line.
`name_test` replays the committed corpus and the target's built-in seeds in
every build, so a crash the fuzzer once found stays fixed.

The source defines LLVMFuzzerTestOneInput and, for the seed writer,
std::vector<std::string> pserve::FuzzSeeds() (third_party/fuzz_support.h).

Usage:
    load("//third_party:fuzz.bzl", "fuzz_target")
    fuzz_target(
        name = "token_shard_fuzz",
        srcs = ["token_shard_fuzz.cc"],
        corpus = "fuzz/token_shard",     # committed seed folder
        deps = [":token_shard"],
    )
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

def fuzz_target(name, srcs, corpus, deps = []):
    common = deps + ["//third_party:fuzz_support"]
    cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = common + select({
            "//third_party:fuzzing": [],
            "//conditions:default": ["//third_party:fuzz_replay_main"],
        }),
        linkopts = select({
            "//third_party:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    cc_test(
        name = name + "_test",
        srcs = srcs,
        args = ["--builtin_seeds", native.package_name() + "/" + corpus],
        data = native.glob([corpus + "/*"]),
        deps = common + ["//third_party:fuzz_replay_main"],
    )
