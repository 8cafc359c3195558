# tools/eiocb-stress.cmake: the load tool of the patch's test (SEMANTICS 7):
# O_DIRECT libaio writers and buffered readers, checking R7 and P5. Its
# checking rules are a library so that tests/stress can test them alone.
add_library(eiocb_stress_model STATIC ${CMAKE_CURRENT_LIST_DIR}/eiocb_stress_model.c)
target_include_directories(eiocb_stress_model PUBLIC ${CMAKE_CURRENT_LIST_DIR})

add_executable(eiocb-stress ${CMAKE_CURRENT_LIST_DIR}/eiocb-stress.c
                            ${CMAKE_CURRENT_LIST_DIR}/eiocb_stress_trace.c)
# --trace talks to the daemon through the control channel's client.
target_link_libraries(eiocb-stress PRIVATE eiocb_stress_model eiocbfs_aio eiocbfs_control
                      Threads::Threads)
install(TARGETS eiocb-stress RUNTIME DESTINATION bin)
