# fs/fs_errors.cmake: the errors= policy (fs/errors.c, issue 6 point 1) in
# eiocbfs_fs (after fs.cmake: alphabetical).
if(TARGET eiocbfs_fs)
  target_sources(eiocbfs_fs PRIVATE ${CMAKE_CURRENT_LIST_DIR}/errors.c)
  target_link_libraries(eiocbfs_fs PUBLIC eiocbfs_fault)
endif()
