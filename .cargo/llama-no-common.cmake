# Included by CMake after every project() call (CMAKE_PROJECT_INCLUDE, set in config.toml and passed
# on by llama-cpp-sys-2's build script, which forwards every CMAKE_* variable).
#
# llama-cpp-2 depends on llama-cpp-sys-2 with its default features, so llama.cpp's `common`
# library (chat parsers, Jinja, argument parsing: about half of llama.cpp's compile time) is built
# although bizra turns llama-cpp-2's `common` feature off and never calls it. This turns the
# option off in the llama.cpp project alone; llama-cpp-sys-2 links `llama-common` only when its
# build directory exists, so nothing else changes. To see that it took effect: no `build/common` in
# $CARGO_TARGET_DIR/release/build/llama-cpp-sys-2-*/out of a fresh build (an existing build
# directory keeps what it was built with: llama-cpp-sys-2 reruns only when its inputs change).
if(PROJECT_NAME STREQUAL "llama.cpp")
  set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
endif()
