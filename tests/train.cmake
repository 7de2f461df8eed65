# train: optimizer, schedules, trainer loop, checkpoints and resume, SFT data, evaluation, the
# math domain tokenizer, and the sft / eval / data commands.
rleif_add_fixture(NAME train_adamw SCRIPT scripts/fixtures/train_adamw.py)
rleif_add_test(NAME train_adamw_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/golden/train_adamw_test.cc
  LIBS rleif_train
  FIXTURES train_adamw
  LABELS golden)
rleif_add_test(NAME train_trainer_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/train_trainer_test.cc
  LIBS rleif_train
  LABELS unit)
rleif_add_test(NAME train_sft_data_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/train_sft_data_test.cc
  LIBS rleif_train
  LABELS unit)
rleif_add_test(NAME train_model_inputs_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/train_model_inputs_test.cc
  LIBS rleif_rm_test_util
  LABELS unit)
rleif_add_test(NAME train_domain_tokenizer_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/golden/train_domain_tokenizer_test.cc
  LIBS rleif_train rleif_evol
  LABELS golden)
rleif_add_test(NAME sft_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/sft_cli_test.cc
  LIBS rleif_core
  TIMEOUT 1200
  LABELS integration)
rleif_add_fixture(NAME train_schedule SCRIPT scripts/fixtures/train_schedule.py)
rleif_add_test(NAME train_schedule_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/golden/train_schedule_test.cc
  LIBS rleif_train
  FIXTURES train_schedule
  LABELS golden)
rleif_add_test(NAME train_progress_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/train_progress_test.cc
  LIBS rleif_core
  LABELS unit)
add_library(rleif_dist_test_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/dist_util.cc)
target_link_libraries(rleif_dist_test_util PUBLIC rleif_dist)
rleif_add_test(NAME dist_train_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dist_train_test.cc
  LIBS rleif_rm_test_util rleif_dist_test_util
  TIMEOUT 1800
  LABELS integration)
rleif_add_test(NAME core_dist_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/core_dist_test.cc
  LIBS rleif_dist_test_util
  LABELS unit)
rleif_add_test(NAME core_dist_nccl_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/core_dist_nccl_test.cc
  LIBS rleif_dist_test_util
  LABELS unit gpu)
