# rm records: the IRM / PRM / ORM / pairwise readers. Built from rm/data*.cc alone (no LibTorch), so
# the readers' tests do not wait on the rest of rm.
rleif_add_test(NAME rm_data_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_data_test.cc
          ${PROJECT_SOURCE_DIR}/rm/data.cc ${PROJECT_SOURCE_DIR}/rm/data_prm.cc
  LIBS rleif_core
  LABELS unit)
