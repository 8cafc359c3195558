# fs/fault.cmake: the fault points (SEMANTICS section 6), a leaf library that
# the page cache, the direct path and the device completion ask.
add_library(eiocbfs_fault STATIC ${CMAKE_CURRENT_LIST_DIR}/fault.c)
target_include_directories(eiocbfs_fault PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_fault PUBLIC Threads::Threads)
