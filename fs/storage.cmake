# fs/storage.cmake: the storage layers (meta, disk, bcache, journal, alloc,
# super, format) as libeiocbfs_storage. Owner: the storage work (H3a).
add_library(eiocbfs_storage STATIC
  ${CMAKE_CURRENT_LIST_DIR}/meta.c
  ${CMAKE_CURRENT_LIST_DIR}/disk.c
  ${CMAKE_CURRENT_LIST_DIR}/holder.c
  ${CMAKE_CURRENT_LIST_DIR}/bcache.c
  ${CMAKE_CURRENT_LIST_DIR}/journal.c
  ${CMAKE_CURRENT_LIST_DIR}/alloc.c
  ${CMAKE_CURRENT_LIST_DIR}/super.c
  ${CMAKE_CURRENT_LIST_DIR}/format.c)
target_include_directories(eiocbfs_storage PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_storage PUBLIC Threads::Threads)
# libblkid (libblkid-dev), when present: mkfs recognises and wipes every
# signature it knows; without it, format.c's own table of the common ones.
pkg_check_modules(BLKID QUIET IMPORTED_TARGET blkid)
if(BLKID_FOUND)
  target_link_libraries(eiocbfs_storage PRIVATE PkgConfig::BLKID)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/format.c PROPERTIES
                              COMPILE_DEFINITIONS HAVE_BLKID)
endif()
