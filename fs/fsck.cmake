# fsck: the checker library (fs/fsck*.c) behind tools/fsck.eiocbfs and the
# fsck tests. It needs the storage layers (eiocbfs_storage, fs/storage.cmake),
# which sort after this file: define it once fs/ is fully read.
function(_eiocbfs_fsck_target)
  if(NOT TARGET eiocbfs_storage)
    message(STATUS "fsck: eiocbfs_storage not defined yet, eiocbfs_fsck skipped")
    return()
  endif()
  add_library(eiocbfs_fsck STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_image.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_super.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_journal.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_orphan.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_inode.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_extent.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_xattr.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_dir.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_links.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_rebuild.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fsck_bitmap.c)
  target_include_directories(eiocbfs_fsck PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(eiocbfs_fsck PUBLIC eiocbfs_storage)
endfunction()
cmake_language(DEFER CALL _eiocbfs_fsck_target)
