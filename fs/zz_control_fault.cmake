# fs/zz_control_fault.cmake: the control channel's "fault" command glue
# (control_fault.c), which needs eiocbfs_fault (fs/fault.cmake, included
# before this file: files are included alphabetically).
if(TARGET eiocbfs_fault AND TARGET eiocbfs_control)
  add_library(eiocbfs_control_fault STATIC ${CMAKE_CURRENT_LIST_DIR}/control_fault.c)
  target_link_libraries(eiocbfs_control_fault PUBLIC eiocbfs_control eiocbfs_fault)
endif()
