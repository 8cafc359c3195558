# The libaio device backend of ioctx (aio_dev.c) and the ready-made
# ioctx_ops that submit iocbs straight to it (aio_dev_ops.c).
# Named zz_ so that it is included after core.cmake, which defines `ioctx`.
if(NOT TARGET ioctx)
  message(STATUS "ioctx/zz_aio_dev.cmake: no target ioctx yet "
                 "(ioctx/core.cmake); the libaio backend is not built")
  return()
endif()
target_sources(ioctx PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/aio_dev.c
  ${CMAKE_CURRENT_LIST_DIR}/aio_dev_ops.c)
target_include_directories(ioctx PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ioctx PUBLIC eiocbfs_aio Threads::Threads)
