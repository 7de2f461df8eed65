# Forward-pass benchmark (driver: bench/run_model_forward.py).
add_executable(model_forward model_forward.cc)
target_link_libraries(model_forward PRIVATE rleif_model CLI11::CLI11)
rleif_warnings(model_forward)
