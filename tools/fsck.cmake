# fsck.eiocbfs: the checker's command line (the checking is eiocbfs_fsck, fs/fsck.cmake).
if(TARGET eiocbfs_fsck)
  add_executable(fsck.eiocbfs ${CMAKE_CURRENT_SOURCE_DIR}/fsck.eiocbfs.c)
  target_link_libraries(fsck.eiocbfs PRIVATE eiocbfs_fsck)
  install(TARGETS fsck.eiocbfs RUNTIME DESTINATION sbin)
endif()
