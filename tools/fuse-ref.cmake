# tools/fuse-ref.cmake: fuse-ref, a FUSE reference daemon (null or sync
# passthrough of one file) that tools/bench-dio runs next to eiocbfs to show
# what FUSE itself costs. A benchmark helper: not installed.
add_executable(fuse-ref ${CMAKE_CURRENT_LIST_DIR}/fuse-ref.c)
target_link_libraries(fuse-ref PRIVATE PkgConfig::FUSE3 Threads::Threads)
