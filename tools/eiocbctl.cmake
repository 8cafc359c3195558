# tools/eiocbctl.cmake: eiocbctl, the runtime control tool (control.h), and
# its JSON reader (a library so that tests/control can check the stats JSON).
add_library(eiocbctl_json STATIC ${CMAKE_CURRENT_LIST_DIR}/eiocbctl_json.c)
target_include_directories(eiocbctl_json PUBLIC ${CMAKE_CURRENT_LIST_DIR})

add_executable(eiocbctl ${CMAKE_CURRENT_LIST_DIR}/eiocbctl.c)
target_link_libraries(eiocbctl PRIVATE eiocbfs_control eiocbctl_json)
install(TARGETS eiocbctl RUNTIME DESTINATION bin)
