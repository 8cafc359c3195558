# ioctx/core.cmake: the ioctx core library (kioctx/kiocb model and ring).
# Other ioctx/*.cmake parts add sources with target_sources(ioctx PRIVATE ...).
# ioctx/CMakeLists.txt includes the parts in name order, so a part that sorts
# before this one (aio_dev.cmake) first does
#   include(${CMAKE_CURRENT_LIST_DIR}/core.cmake)
# which is safe: the guard makes the target defined exactly once.
include_guard(GLOBAL)

add_library(ioctx STATIC ${CMAKE_CURRENT_LIST_DIR}/ioctx.c)
# Both #include "ioctx.h" and #include "ioctx/ioctx.h" work for users.
target_include_directories(ioctx PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                                        ${PROJECT_SOURCE_DIR})
target_link_libraries(ioctx PUBLIC Threads::Threads)
# Sanitizer builds also check the debug assertions (lock held, refcounts).
if(EIOCBFS_SANITIZE)
  target_compile_options(ioctx PRIVATE -UNDEBUG)
endif()
