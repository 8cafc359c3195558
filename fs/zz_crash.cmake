# fs/zz_crash.cmake: the "crash" control command (fs/crash.c, issue 6 point
# 5) in the daemon; after daemon.cmake and zz_control_glue.cmake.
if(TARGET eiocbfs_daemon_obj)
  target_sources(eiocbfs_daemon_obj PRIVATE ${CMAKE_CURRENT_LIST_DIR}/crash.c)
endif()
