# mkfs.eiocbfs: the command line over storage_format (fs/format.c). The root
# directory comes from the namespace layer (fs_format_root in eiocbfs_fs):
# linked when that library exists, decided once every folder is read.
function(_eiocbfs_mkfs_target)
  if(NOT TARGET eiocbfs_storage)
    return()
  endif()
  add_executable(mkfs.eiocbfs ${CMAKE_CURRENT_SOURCE_DIR}/mkfs.eiocbfs.c)
  target_link_libraries(mkfs.eiocbfs PRIVATE eiocbfs_storage)
  if(TARGET eiocbfs_fs)
    target_link_libraries(mkfs.eiocbfs PRIVATE eiocbfs_fs)
    target_compile_definitions(mkfs.eiocbfs PRIVATE HAVE_FS_FORMAT_ROOT)
  else()
    message(STATUS "mkfs.eiocbfs: eiocbfs_fs not defined, built without a root directory")
  endif()
  install(TARGETS mkfs.eiocbfs RUNTIME DESTINATION sbin)
endfunction()
cmake_language(DEFER CALL _eiocbfs_mkfs_target)
