# fs/fs.cmake: the namespace layers (inode, extent, file, dir, xattr) and
# fs.h's operations (fs.c) as libeiocbfs_fs, on top of eiocbfs_storage
# (fs/storage.cmake, included after this file: link targets resolve late).
# Owner: the namespace work (H3b).
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/storage.cmake)
  add_library(eiocbfs_fs STATIC
    ${CMAKE_CURRENT_LIST_DIR}/inode.c
    ${CMAKE_CURRENT_LIST_DIR}/extent.c
    ${CMAKE_CURRENT_LIST_DIR}/file.c
    ${CMAKE_CURRENT_LIST_DIR}/dir.c
    ${CMAKE_CURRENT_LIST_DIR}/xattr.c
    ${CMAKE_CURRENT_LIST_DIR}/fs.c)
  target_include_directories(eiocbfs_fs PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(eiocbfs_fs PUBLIC eiocbfs_storage Threads::Threads)
endif()
