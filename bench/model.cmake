# Forward-pass benchmark (driver: bench/run_model_forward.py).
add_executable(model_forward model_forward.cc)
target_link_libraries(model_forward PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(model_forward)
# Decode-step GEMM micro-benchmark: the small-M kernel (model/cpu_gemm.h) vs torch::linear.
add_executable(small_gemm small_gemm.cc)
target_link_libraries(small_gemm PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(small_gemm)
# Peak RSS of loading a model (driver: bench/make_random_model.py makes the model; docs/PERFORMANCE.md).
add_executable(model_load_rss model_load_rss.cc)
target_link_libraries(model_load_rss PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(model_load_rss)
