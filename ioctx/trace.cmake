# ioctx/trace.cmake: the iocb lifecycle tracer (trace.h), part of libioctx:
# recording (trace.c) and the Chrome trace-event JSON writer (trace_json.c).
# Sorts after core.cmake, which defines the target. Owner: H10 (issue 5).
include(${CMAKE_CURRENT_LIST_DIR}/core.cmake)
target_sources(ioctx PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/trace.c
  ${CMAKE_CURRENT_LIST_DIR}/trace_json.c)
