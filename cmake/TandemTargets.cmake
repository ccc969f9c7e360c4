# Per-target settings shared by every Tandem target. Flags are attached to targets,
# never to the global CMAKE_CXX_FLAGS, so a parent project embedding Tandem is unaffected.

# tandem_target_defaults(<target>): C++20, warnings on, and the project's include roots.
function(tandem_target_defaults target)
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wno-sign-conversion)
  endif()
endfunction()

# tandem_target_native(<target>): vector ISA of the build machine, for the CPU math.
function(tandem_target_native target)
  if(TANDEM_NATIVE AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # GCC 12 reports its own AVX-512 intrinsics headers (the `__m512 __Y = __Y;` idiom used
    # by Eigen's packet transposes) as maybe-uninitialized: a known false positive.
    target_compile_options(${target} PRIVATE -march=native
                           $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  endif()
endfunction()
