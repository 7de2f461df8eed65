# rm best-of-n: reward-model metrics, best-of-n estimators and the HTML/SVG report. These sources are
# plain C++ (no LibTorch), so the unit tests compile them directly and need only rleif_core.
rleif_add_test(NAME rm_metrics_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_metrics_test.cc ${PROJECT_SOURCE_DIR}/rm/metrics.cc
  LIBS rleif_core
  LABELS unit)
rleif_add_test(NAME rm_bestofn_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_bestofn_test.cc ${PROJECT_SOURCE_DIR}/rm/bestofn.cc
          ${PROJECT_SOURCE_DIR}/rm/report.cc
  LIBS rleif_core
  LABELS unit)
rleif_add_test(NAME bestofn_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/bestofn_cli_test.cc
  LIBS rleif_core
  LABELS integration)
