# core: config system, JSONL, fs, strings (no LibTorch).
rleif_add_test(NAME options_test SOURCES unit/options_test.cc LIBS rleif_core)
rleif_add_test(NAME core_test SOURCES unit/core_test.cc LIBS rleif_core)
rleif_add_test(NAME core_memory_test SOURCES unit/core_memory_test.cc LIBS rleif_core)
rleif_add_test(NAME cli_test SOURCES integration/cli_test.cc LIBS rleif_core CLI)
# The flag binder of cli/ (compiled in: cli/ is a program, not a library).
rleif_add_test(NAME cli_config_args_test SOURCES unit/cli_config_args_test.cc ${PROJECT_SOURCE_DIR}/cli/config_args.cc
               LIBS rleif_core CLI11::CLI11 LABELS unit)
