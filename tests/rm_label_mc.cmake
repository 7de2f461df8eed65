# rm label-mc (Math-Shepherd Monte-Carlo step labels): the labelling logic with an oracle completer
# on the math domain (unit) and the rollout-engine completer on a tiny policy built in the test, with
# SIGKILL + resume (integration).
rleif_add_test(NAME rm_label_mc_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_label_mc_test.cc
  LIBS rleif_rm rleif_evol
  LABELS unit)
rleif_add_test(NAME rm_label_mc_engine_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/rm_label_mc_test.cc
  LIBS rleif_rm rleif_evol
  LABELS integration)
