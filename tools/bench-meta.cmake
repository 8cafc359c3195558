# bench-meta: the timed create/stat/unlink loop that tools/bench-meta (a
# Python driver, run from the source tree) runs on each filesystem it
# compares. A benchmark, not a test: run it by hand.
add_executable(bench_meta_ops ${CMAKE_CURRENT_LIST_DIR}/bench_meta_ops.c)
