# rm label-mc (Math-Shepherd Monte-Carlo step labels): the labelling logic with an oracle completer
# on the math domain (unit) and the rollout-engine completer on a tiny random policy built in the test,
# with SIGKILL + resume (integration). The sources are listed here, in their own library, so these
# tests build while the rest of rm/ is being written; rm/CMakeLists.txt also globs them into rleif_rm.
add_library(rleif_rm_label_mc STATIC ${PROJECT_SOURCE_DIR}/rm/label_mc.cc ${PROJECT_SOURCE_DIR}/rm/label_mc_engine.cc)
target_include_directories(rleif_rm_label_mc PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(rleif_rm_label_mc PUBLIC rleif_train rleif_rollout rleif_core)
rleif_torch_target(rleif_rm_label_mc)
rleif_add_test(NAME rm_label_mc_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_label_mc_test.cc
  LIBS rleif_rm_label_mc rleif_evol
  LABELS unit)
rleif_add_test(NAME rm_label_mc_engine_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/rm_label_mc_test.cc
  LIBS rleif_rm_label_mc rleif_evol
  LABELS integration)
