# fs/storage.cmake: the storage layers (meta, disk, bcache, journal, alloc,
# super, format) as libeiocbfs_storage. Owner: the storage work (H3a).
add_library(eiocbfs_storage STATIC
  ${CMAKE_CURRENT_LIST_DIR}/meta.c
  ${CMAKE_CURRENT_LIST_DIR}/disk.c
  ${CMAKE_CURRENT_LIST_DIR}/bcache.c
  ${CMAKE_CURRENT_LIST_DIR}/journal.c
  ${CMAKE_CURRENT_LIST_DIR}/alloc.c
  ${CMAKE_CURRENT_LIST_DIR}/super.c
  ${CMAKE_CURRENT_LIST_DIR}/format.c)
target_include_directories(eiocbfs_storage PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_storage PUBLIC Threads::Threads)
