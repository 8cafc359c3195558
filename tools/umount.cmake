# umount.fuse.eiocbfs: the unmount helper umount(8) runs for type
# fuse.eiocbfs. umount(8) looks for helpers in /sbin only (not on PATH), so
# it installs there whatever the prefix (DESTDIR applies), as e2fsprogs puts
# its tools in /sbin; EIOCBFS_HELPER_DIR changes that.
set(EIOCBFS_HELPER_DIR "/sbin" CACHE PATH "where umount(8) finds umount.fuse.eiocbfs")
if(TARGET eiocbfs_storage)
  add_executable(umount.fuse.eiocbfs ${CMAKE_CURRENT_SOURCE_DIR}/umount.fuse.eiocbfs.c)
  target_link_libraries(umount.fuse.eiocbfs PRIVATE eiocbfs_storage)
  install(TARGETS umount.fuse.eiocbfs RUNTIME DESTINATION ${EIOCBFS_HELPER_DIR})
endif()
