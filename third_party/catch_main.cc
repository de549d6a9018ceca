// The main() of every Catch2 unit test. Thread-safety: not applicable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
