# bench-ioctx: ioctx over the libaio backend against raw libaio, and the
# bare ioctx cycle rate. A benchmark, not a test: run it by hand.
if(TARGET ioctx)
  add_executable(bench-ioctx ${CMAKE_CURRENT_LIST_DIR}/bench-ioctx.c)
  target_link_libraries(bench-ioctx PRIVATE ioctx eiocbfs_aio Threads::Threads)
  target_compile_options(bench-ioctx PRIVATE -Wno-format-truncation)
endif()
