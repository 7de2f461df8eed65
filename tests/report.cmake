# report: `rleif report` (ppo/recipe_report.h), the whole-recipe HTML page of scripts/demo, on
# hand-written metrics, eval rows, bestofn.json and timings: XML-valid, one <svg> per chart, hand-computed
# accuracy by difficulty, --demo layout with notes for missing inputs, malformed lines named file:line.
rleif_add_test(NAME report_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/report_cli_test.cc
  LIBS rleif_core
  TIMEOUT 300
  LABELS integration)
