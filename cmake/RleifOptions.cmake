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
