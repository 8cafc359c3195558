# fs/control.cmake: the runtime control channel (server for the daemon,
# client for eiocbctl and the tests). Knows nothing of the filesystem.
add_library(eiocbfs_control STATIC
  ${CMAKE_CURRENT_LIST_DIR}/control.c
  ${CMAKE_CURRENT_LIST_DIR}/control_client.c
  ${CMAKE_CURRENT_LIST_DIR}/control_msg.c
  ${CMAKE_CURRENT_LIST_DIR}/control_path.c)
target_include_directories(eiocbfs_control PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_control PUBLIC Threads::Threads)
