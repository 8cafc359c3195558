# fs/zz_daemon_log.cmake: the daemon's log glue (daemon_log.c) and its rate
# limiter, added to the daemon's objects (defined in daemon.cmake; this file
# comes after ratelimit.cmake alphabetically).
if(TARGET eiocbfs_daemon_obj AND TARGET eiocbfs_ratelimit)
  target_sources(eiocbfs_daemon_obj PRIVATE ${CMAKE_CURRENT_LIST_DIR}/daemon_log.c)
  target_link_libraries(eiocbfs_daemon_obj PUBLIC eiocbfs_ratelimit)
endif()
