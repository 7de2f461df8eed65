# Model: parity with transformers (golden) and invariants (unit).
rleif_add_fixture(NAME model SCRIPT scripts/fixtures/model_fixtures.py)
rleif_add_test(NAME model_parity_test SOURCES golden/model_parity_test.cc model_test_util.cc
               LIBS rleif_model FIXTURES model)
rleif_add_test(NAME model_test SOURCES unit/model_test.cc model_test_util.cc LIBS rleif_model FIXTURES model)
rleif_add_test(NAME model_fused_train_test SOURCES unit/model_fused_train_test.cc LIBS rleif_model LABELS unit)
if(RLEIF_SANITIZE)
  # scripts/test --sanitize builds without OpenMP (see there): the OpenMP thread check is skipped, visibly.
  target_compile_definitions(model_fused_train_test PRIVATE RLEIF_SANITIZER_BUILD)
endif()
rleif_add_test(NAME model_cpu_kernels_test SOURCES unit/model_cpu_kernels_test.cc LIBS rleif_model LABELS unit)
rleif_add_test(NAME model_dtype_test SOURCES unit/model_dtype_test.cc LIBS rleif_model LABELS unit)
rleif_add_test(NAME model_load_test SOURCES unit/model_load_test.cc model_test_util.cc LIBS rleif_model FIXTURES model)
rleif_add_test(NAME lora_peft_test SOURCES golden/lora_peft_test.cc model_test_util.cc LIBS rleif_model FIXTURES model
               LABELS golden)
