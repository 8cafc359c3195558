# tools/eiocb-load.cmake: the hardening load (issue 6 point 4): many
# processes of mixed metadata, buffered and direct I/O, checked against an
# exact model. tests/hardening runs a short run of it on a mount.
add_executable(eiocb-load ${CMAKE_CURRENT_LIST_DIR}/eiocb-load.c)
install(TARGETS eiocb-load RUNTIME DESTINATION bin)
