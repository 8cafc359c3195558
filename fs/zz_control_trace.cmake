# fs/zz_control_trace.cmake: the control channel's "trace" command
# (control_trace.c) in the daemon's handler library, defined by
# zz_control_glue.cmake (this name sorts after it). Owner: H10 (issue 5).
if(TARGET eiocbfs_control_daemon)
  target_sources(eiocbfs_control_daemon PRIVATE ${CMAKE_CURRENT_LIST_DIR}/control_trace.c)
endif()
