# fs/zz_control_glue.cmake: the control channel's glue to the layers it
# drives: the "fault" command (control_fault.c, needs eiocbfs_fault) and the
# daemon's whole handler (control_daemon.c, also needs ioctx and the page
# cache for their stats). Named to come after fault.cmake and
# pagecache.cmake (files are included alphabetically).
if(TARGET eiocbfs_fault AND TARGET eiocbfs_control)
  add_library(eiocbfs_control_fault STATIC ${CMAKE_CURRENT_LIST_DIR}/control_fault.c)
  target_link_libraries(eiocbfs_control_fault PUBLIC eiocbfs_control eiocbfs_fault)
endif()
if(TARGET eiocbfs_control_fault AND TARGET ioctx AND TARGET eiocbfs_pagecache)
  add_library(eiocbfs_control_daemon STATIC ${CMAKE_CURRENT_LIST_DIR}/control_daemon.c)
  target_link_libraries(eiocbfs_control_daemon PUBLIC eiocbfs_control_fault ioctx
                        eiocbfs_pagecache)
endif()
