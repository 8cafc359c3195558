# fs/pagecache.cmake: the page cache (SEMANTICS P1-P4). Depends on the fault
# points (fs/fault.cmake, included before this file) and nothing else of fs/.
add_library(eiocbfs_pagecache STATIC ${CMAKE_CURRENT_LIST_DIR}/pagecache.c
            ${CMAKE_CURRENT_LIST_DIR}/wberr.c)
target_include_directories(eiocbfs_pagecache PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(eiocbfs_pagecache PUBLIC eiocbfs_fault Threads::Threads)
