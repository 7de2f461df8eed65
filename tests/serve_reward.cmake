# serve reward endpoints: `rleif serve --reward-model` on a tiny PRM trained in the test, driven over
# HTTP with cpp-httplib's client (the server's own HTTP library, via pkg-config for its -D flags).
pkg_check_modules(RLEIF_TEST_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
rleif_add_test(NAME serve_reward_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/serve_reward_test.cc
  LIBS rleif_rm rleif_rm_test_util PkgConfig::RLEIF_TEST_HTTPLIB
  FIXTURES rollout_models
  TIMEOUT 1200
  LABELS integration)
