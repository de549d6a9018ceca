"""Build macro for the multi-process tests in this folder."""

load("@rules_cc//cc:defs.bzl", "cc_test")

def multiprocess_test(name, data, deps = [], worker = False):
    """A Catch2 test of processes started from `data` on loopback."""
    cc_test(
        name = name,
        size = "medium",
        srcs = [name + ".cc"],
        data = data,
        deps = deps + [
            "//cluster:local_cluster",
            "//third_party:catch2",
            "//third_party:catch_main",
        ] + ([":worker_test_util"] if worker else []),
    )
