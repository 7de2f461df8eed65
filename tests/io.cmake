# I/O: safetensors reader/writer, Hugging Face directory errors, llama2.c import (stories260K).
# The llama2.c tests compare with scripts/fixtures/{llama2c_reference,hf_reference}.py at run time.
rleif_add_test(NAME safetensors_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/safetensors_test.cc
  LIBS rleif_core
  LABELS unit)
rleif_add_test(NAME hf_io_errors_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/hf_io_errors_test.cc
  LIBS rleif_model
  LABELS unit)
if(TARGET rleif_llama2c)
  rleif_add_test(NAME llama2c_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/golden/llama2c_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/model_test_util.cc
    LIBS rleif_llama2c rleif_model
    LABELS golden)
  rleif_add_test(NAME stories_generate_test CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/stories_generate_test.cc
    LIBS rleif_core
    LABELS integration)
endif()
