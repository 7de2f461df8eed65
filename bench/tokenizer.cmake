# Tokenizer throughput against the Hugging Face tokenizers library (bench/tokenizer_ref.py).
if(TARGET rleif_tokenizer)
  add_executable(tokenizer_bench ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_bench.cc)
  target_link_libraries(tokenizer_bench PRIVATE rleif_tokenizer CLI11::CLI11)
  rleif_warnings(tokenizer_bench)
endif()
