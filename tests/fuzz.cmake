# Fuzz targets (tests/fuzz/): the parsers of files, configs, request bodies and chat templates.
# fuzz_replay_test replays their seeds, the regressions fuzzing found, and seeded mutations in every
# ctest run; with RLEIF_FUZZ=ON (clang; scripts/fuzz) each target is also a libFuzzer binary.
set(RLEIF_FUZZ_TARGETS safetensors_header tokenizer_load tokenizer_encode jsonl_records config_yaml serve_request
    chat_template)
add_library(rleif_fuzz_targets STATIC
  fuzz/common.cc fuzz/safetensors.cc fuzz/tokenizer.cc fuzz/records.cc fuzz/config.cc fuzz/serve_request.cc
  fuzz/chat_template.cc)
target_include_directories(rleif_fuzz_targets PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(rleif_fuzz_targets PUBLIC rleif_rm rleif_ppo rleif_serve rleif_evol rleif_train rleif_core)
rleif_torch_target(rleif_fuzz_targets)
rleif_add_test(NAME fuzz_replay_test SOURCES unit/fuzz_replay_test.cc LIBS rleif_fuzz_targets LABELS unit)
if(RLEIF_FUZZ)
  foreach(t ${RLEIF_FUZZ_TARGETS})
    add_executable(fuzz_${t} fuzz/main.cc)
    target_compile_definitions(fuzz_${t} PRIVATE RLEIF_FUZZ_TARGET=${t})
    target_link_libraries(fuzz_${t} PRIVATE rleif_fuzz_targets)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    list(APPEND _rleif_fuzz_bins fuzz_${t})
  endforeach()
  add_custom_target(fuzz_all DEPENDS ${_rleif_fuzz_bins})
endif()
