# Forward-pass benchmark (driver: bench/run_model_forward.py).
add_executable(model_forward model_forward.cc)
target_link_libraries(model_forward PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(model_forward)
# Decode-step GEMM micro-benchmark: the small-M kernel (model/cpu_gemm.h) vs torch::linear.
add_executable(small_gemm small_gemm.cc)
target_link_libraries(small_gemm PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(small_gemm)
