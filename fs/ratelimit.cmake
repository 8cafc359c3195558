# fs/ratelimit.cmake: the daemon's log rate limiter (ratelimit.c, pure C).
# Linked into the daemon by fs/zz_daemon_log.cmake.
add_library(eiocbfs_ratelimit STATIC ${CMAKE_CURRENT_LIST_DIR}/ratelimit.c)
target_include_directories(eiocbfs_ratelimit PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_ratelimit PUBLIC Threads::Threads)
