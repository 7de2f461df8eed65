# evol: teacher-client throughput against a loopback server with a fixed latency (docs/perf/evol.md).
add_executable(evol_teacher_bench
  ${CMAKE_CURRENT_SOURCE_DIR}/evol_teacher_bench.cc
  ${PROJECT_SOURCE_DIR}/tests/evol_fake_server.cc)
target_link_libraries(evol_teacher_bench PRIVATE rleif_evol Threads::Threads)
rleif_warnings(evol_teacher_bench)
