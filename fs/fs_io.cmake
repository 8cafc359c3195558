# fs/fs_io.cmake: the file I/O engine of a mounted filesystem (fs/fsio.h):
# the page cache glue (fcache.c) and the direct path through ioctx over the
# libaio backend (direct.c), part of libeiocbfs_fs (fs/fs.cmake, included
# just before this file). Owner: the direct-path work (H8).
if(TARGET eiocbfs_fs)
  target_sources(eiocbfs_fs PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/fcache.c
    ${CMAKE_CURRENT_LIST_DIR}/direct.c)
  # eiocbfs_pagecache and eiocbfs_fault come later in this folder: names
  # resolve at generation time.
  target_link_libraries(eiocbfs_fs PUBLIC ioctx eiocbfs_pagecache eiocbfs_fault)
endif()
# The daemon's side: O_DIRECT requests answered from the ring, the engine's
# options and the control channel (fuse_dio.c, called by fuse_ops.c/main.c).
if(TARGET eiocbfs_daemon_obj)
  target_sources(eiocbfs_daemon_obj PRIVATE ${CMAKE_CURRENT_LIST_DIR}/fuse_dio.c)
  # eiocbfs_control_daemon is defined by zz_control_glue.cmake, later.
  target_link_libraries(eiocbfs_daemon_obj PUBLIC ioctx eiocbfs_fault eiocbfs_control_daemon)
endif()
