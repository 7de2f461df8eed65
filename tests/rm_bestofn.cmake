# rm best-of-n: reward-model metrics, best-of-n estimators and the HTML/SVG report (plain C++ in
# rleif_rm), and rleif bestofn end to end (hand-written files; a tiny policy and reward models).
rleif_add_test(NAME rm_metrics_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_metrics_test.cc
  LIBS rleif_rm
  LABELS unit)
rleif_add_test(NAME rm_bestofn_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_bestofn_test.cc
  LIBS rleif_rm
  LABELS unit)
rleif_add_test(NAME bestofn_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/bestofn_cli_test.cc
  LIBS rleif_rm_test_util
  TIMEOUT 600
  LABELS integration)
