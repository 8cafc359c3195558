# fs/daemon.cmake: the eiocbfs daemon (FUSE glue + command line). Its
# parts compile from fs.h alone; the program links eiocbfs_fs, which
# fs/fs.cmake defines later (files are included alphabetically), so the
# executable is declared at the end of this directory (DEFER).
add_library(eiocbfs_daemon_opts STATIC ${CMAKE_CURRENT_LIST_DIR}/daemon_opts.c)
target_include_directories(eiocbfs_daemon_opts PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_daemon_opts PUBLIC PkgConfig::FUSE3 eiocbfs_fault)

add_library(eiocbfs_daemon_obj OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/channel.c
  ${CMAKE_CURRENT_LIST_DIR}/fuse_ops.c
  ${CMAKE_CURRENT_LIST_DIR}/remount.c
  ${CMAKE_CURRENT_LIST_DIR}/daemonize.c
  ${CMAKE_CURRENT_LIST_DIR}/utab.c
  ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(eiocbfs_daemon_obj PUBLIC eiocbfs_daemon_opts PkgConfig::FUSE3
                      Threads::Threads)

function(eiocbfs_daemon_program)
  if(TARGET eiocbfs_fs)
    add_executable(eiocbfs)
    target_link_libraries(eiocbfs PRIVATE eiocbfs_daemon_obj eiocbfs_fs)
    # mount -t fuse.eiocbfs runs mount.fuse3, which finds eiocbfs on PATH.
    install(TARGETS eiocbfs RUNTIME DESTINATION bin)
  else()
    message(STATUS "eiocbfs: no eiocbfs_fs target yet; the daemon is not linked")
  endif()
endfunction()
cmake_language(DEFER CALL eiocbfs_daemon_program)
