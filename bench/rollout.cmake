# Rollout engine benchmark (driver: bench/rollout_bench.py): rleif's generate vs transformers' generate.
add_executable(rollout_generate ${CMAKE_CURRENT_LIST_DIR}/rollout_generate.cc)
target_link_libraries(rollout_generate PRIVATE rleif_rollout CLI11::CLI11)
rleif_warnings(rollout_generate)
