# core: config system, JSONL, fs, strings (no LibTorch).
rleif_add_test(NAME options_test SOURCES unit/options_test.cc LIBS rleif_core)
rleif_add_test(NAME core_test SOURCES unit/core_test.cc LIBS rleif_core)
rleif_add_test(NAME core_memory_test SOURCES unit/core_memory_test.cc LIBS rleif_core)
rleif_add_test(NAME cli_test SOURCES integration/cli_test.cc LIBS rleif_core CLI)
