# bench-storage: figures of the storage layers alone (tools/bench-storage.c).
function(_eiocbfs_bench_storage_target)
  if(TARGET eiocbfs_storage)
    add_executable(bench-storage ${CMAKE_CURRENT_SOURCE_DIR}/bench-storage.c)
    target_link_libraries(bench-storage PRIVATE eiocbfs_storage Threads::Threads)
  endif()
endfunction()
cmake_language(DEFER CALL _eiocbfs_bench_storage_target)
