# rm records: the IRM / PRM / ORM / pairwise readers, one test per bad-input case, and the shared
# data sets (Math-Shepherd / PRM800K samples, PRMBench, MR-GSM8K, GSM8K model solutions).
rleif_add_test(NAME rm_data_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_data_test.cc
  LIBS rleif_rm
  LABELS unit)
