# rm: reward-model losses, encoding, training task, scoring, transformers parity and the rm CLI.
add_library(rleif_rm_test_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/rm_util.cc)
target_link_libraries(rleif_rm_test_util PUBLIC rleif_train rleif_evol rleif_core)
rleif_add_test(NAME rm_train_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_train_test.cc
  LIBS rleif_rm rleif_rm_test_util
  LABELS unit)
rleif_add_test(NAME rm_verifier_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/rm_verifier_test.cc
  LIBS rleif_rm rleif_rm_test_util
  LABELS unit)
rleif_add_test(NAME rm_hf_parity_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/golden/rm_hf_parity_test.cc
  LIBS rleif_rm rleif_rm_test_util
  LABELS golden)
rleif_add_test(NAME rm_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/rm_cli_test.cc
  LIBS rleif_rm_test_util
  TIMEOUT 1200
  LABELS integration)
# LoRA runs of sft and rm train: only adapters (+ the RM head) train, PEFT adapter directories, resume, merge.
rleif_add_test(NAME lora_train_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/lora_train_test.cc
  LIBS rleif_rm rleif_rm_test_util
  LABELS integration)
