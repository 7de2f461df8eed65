# evol: answer extraction (core/answer), the built-in math domain, prompts and reply parsers, the
# teacher client against a fault-injecting loopback server, the engine, and `rleif evol` end to end.
add_library(rleif_evol_fake_server STATIC ${CMAKE_CURRENT_SOURCE_DIR}/evol_fake_server.cc)
target_include_directories(rleif_evol_fake_server PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(rleif_evol_fake_server PUBLIC rleif_core Threads::Threads)
rleif_warnings(rleif_evol_fake_server)

foreach(t answer)
  rleif_add_test(NAME evol_${t}_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/evol_${t}_test.cc
    LIBS rleif_core LABELS unit)
endforeach()
foreach(t math_domain prompts replies seeds synthetic)
  rleif_add_test(NAME evol_${t}_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/evol_${t}_test.cc
    LIBS rleif_evol LABELS unit)
endforeach()
rleif_add_test(NAME evol_teacher_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/evol_teacher_test.cc
  LIBS rleif_teacher rleif_evol_fake_server
  LABELS integration)
rleif_add_test(NAME evol_engine_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/evol_engine_test.cc
  LIBS rleif_evol rleif_evol_fake_server
  LABELS integration)
rleif_add_test(NAME evol_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/evol_cli_test.cc
  LIBS rleif_evol rleif_evol_fake_server
  LABELS integration)
rleif_add_test(NAME evol_serve_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/evol_serve_test.cc
  LIBS rleif_evol
  FIXTURES rollout_models
  LABELS integration)
