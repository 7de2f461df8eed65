# Compiler settings shared by every target.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()
find_program(RLEIF_CCACHE ccache)
if(RLEIF_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${RLEIF_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${RLEIF_CCACHE})
endif()
set(RLEIF_VERSION ${PROJECT_VERSION})

# rleif_warnings(target): the warning set every project target builds with.
function(rleif_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
endfunction()

# rleif_module(lib): marks a module library for linking into the rleif binary.
function(rleif_module lib)
  set_property(GLOBAL APPEND PROPERTY RLEIF_CLI_LIBS ${lib})
endfunction()

# rleif_openmp(target): -fopenmp for the C++ sources (at::parallel_for's pragma is compiled in the
# caller; see RleifDeps.cmake). The precompiled torch header and every target reusing it get it alike.
function(rleif_openmp target)
  if(TARGET OpenMP::OpenMP_CXX)
    target_link_libraries(${target} PUBLIC OpenMP::OpenMP_CXX)
  endif()
endfunction()

# rleif_torch_target(target): links LibTorch and reuses one precompiled torch header, so each
# torch translation unit skips re-parsing <torch/torch.h> (most of a clean build's time on 2 cores).
function(rleif_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  rleif_openmp(${target})
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
  if(TARGET rleif_torch_pch AND NOT target STREQUAL rleif_torch_pch)
    target_precompile_headers(${target} REUSE_FROM rleif_torch_pch)
  endif()
endfunction()

# Sanitizers and fuzzing (scripts/test --sanitize, scripts/fuzz). RLEIF_SANITIZE is a -fsanitize=
# list applied to every target ("address,undefined" or "thread"); any UBSan finding aborts, so a test
# that triggers one fails (LibTorch itself is not instrumented). RLEIF_FUZZ adds libFuzzer coverage to all
# code and builds one fuzz_<target> binary per tests/fuzz target (needs clang).
set(RLEIF_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined or thread (empty = none)")
option(RLEIF_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)
if(RLEIF_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${RLEIF_SANITIZE}> $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all> $<$<COMPILE_LANGUAGE:CXX>:-g1>)
  add_link_options(-fsanitize=${RLEIF_SANITIZE})
endif()
if(RLEIF_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RLEIF_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
