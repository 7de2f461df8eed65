# Test helpers. One ctest test per GoogleTest binary; Python reference fixtures are ctest fixtures.
#
# rleif_add_test(NAME n SOURCES a.cc... LIBS l... [CLI] [FIXTURES f...] [TIMEOUT s] [LABELS l...]
#                [GPU_TESTS filter])
#   CLI: the test runs the rleif binary (RLEIF_BIN), so building it builds rleif first.
#   GPU_TESTS: the GoogleTest filter (e.g. "*Cuda*") of tests that need a CUDA device; they run as
#     a second ctest test, n_gpu (label gpu), which shows as "Skipped" on a machine without one
#     while n runs the rest.
#   Every test binary's main (tests/test_main.cc) prints "[rleif-skipped]" when tests skipped and
#   none failed; ctest then reports the test as Skipped. A missing fixture, shared data or binary
#   is a failure (RLEIF_REQUIRE_PATH in tests/test_util.h), never a skip.
# rleif_add_fixture(NAME f SCRIPT scripts/fixtures/x.py [ARGS ...]): runs the script with the venv
#   python as `script --out ${RLEIF_FIXTURES_DIR}/f ARGS`, once, before tests that need f.
set(RLEIF_FIXTURES_DIR ${CMAKE_BINARY_DIR}/fixtures)
if(DEFINED ENV{RLEIF_SHARED})
  set(RLEIF_SHARED_DEFAULT $ENV{RLEIF_SHARED})
else()
  get_filename_component(RLEIF_SHARED_DEFAULT ${PROJECT_SOURCE_DIR}/../shared ABSOLUTE)
endif()

function(rleif_test_env out)
  set(${out}
    "RLEIF_SHARED=${RLEIF_SHARED_DEFAULT}"
    "RLEIF_FIXTURES=${RLEIF_FIXTURES_DIR}"
    "RLEIF_SOURCE=${PROJECT_SOURCE_DIR}"
    "RLEIF_PYTHON=${RLEIF_PYTHON}"
    "RLEIF_BIN=$<TARGET_FILE:rleif>"
    PARENT_SCOPE)
endfunction()

function(rleif_add_test)
  cmake_parse_arguments(T "CLI" "NAME;TIMEOUT;GPU_TESTS" "SOURCES;LIBS;FIXTURES;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} rleif_test_main rleif_test_util GTest::gtest)
  rleif_warnings(${T_NAME})
  set(tests ${T_NAME})
  if(T_GPU_TESTS)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} --gtest_filter=-${T_GPU_TESTS})
    add_test(NAME ${T_NAME}_gpu COMMAND ${T_NAME} --gtest_filter=${T_GPU_TESTS})
    set_tests_properties(${T_NAME}_gpu PROPERTIES LABELS gpu)
    list(APPEND tests ${T_NAME}_gpu)
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  endif()
  rleif_test_env(env)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${tests} PROPERTIES ENVIRONMENT "${env}" TIMEOUT ${T_TIMEOUT}
                       SKIP_REGULAR_EXPRESSION "\\[rleif-skipped\\]")
  if(T_FIXTURES)
    set_tests_properties(${tests} PROPERTIES FIXTURES_REQUIRED "${T_FIXTURES}")
  endif()
  if(T_LABELS)
    set_property(TEST ${tests} APPEND PROPERTY LABELS ${T_LABELS})
  endif()
  if(T_CLI)
    add_dependencies(${T_NAME} rleif)
  endif()
endfunction()

function(rleif_add_fixture)
  cmake_parse_arguments(F "" "NAME;SCRIPT" "ARGS" ${ARGN})
  add_test(NAME fixture_${F_NAME}
    COMMAND ${RLEIF_PYTHON} ${PROJECT_SOURCE_DIR}/${F_SCRIPT} --out ${RLEIF_FIXTURES_DIR}/${F_NAME} ${F_ARGS})
  rleif_test_env(env)
  set_tests_properties(fixture_${F_NAME} PROPERTIES FIXTURES_SETUP ${F_NAME} ENVIRONMENT "${env}" TIMEOUT 900)
endfunction()
