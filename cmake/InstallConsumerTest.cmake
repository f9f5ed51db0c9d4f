# Install test, run by ctest as `install_consumer` (cmake -P).
#
# 1. cmake --install the current build tree into a fresh prefix,
# 2. configure and build cpp-tests/consumer against it with find_package,
# 3. run the consumers (static C++, static C, shared C++ wrapper),
# 4. check p2pnet.pc with pkg-config (if available) by building and running
#    the C consumer from its flags.
#
# Inputs (-D): P2PNET_BUILD_DIR, P2PNET_CONFIG, P2PNET_WORK_DIR,
# P2PNET_CONSUMER_SOURCE_DIR, P2PNET_GENERATOR, P2PNET_MULTI_CONFIG,
# P2PNET_C_COMPILER, P2PNET_CXX_COMPILER, P2PNET_LIBDIR (relative, default lib).
cmake_minimum_required(VERSION 3.20)

if(NOT P2PNET_LIBDIR)
  set(P2PNET_LIBDIR lib)
endif()

foreach(_var P2PNET_BUILD_DIR P2PNET_WORK_DIR P2PNET_CONSUMER_SOURCE_DIR P2PNET_GENERATOR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "InstallConsumerTest.cmake: ${_var} is required")
  endif()
endforeach()

set(_prefix "${P2PNET_WORK_DIR}/prefix")
set(_consumer_build "${P2PNET_WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${P2PNET_WORK_DIR}")
file(MAKE_DIRECTORY "${P2PNET_WORK_DIR}")

function(run_step name)
  message(STATUS "[install_consumer] ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "[install_consumer] ${name} failed (${_result})")
  endif()
endfunction()

set(_config_args)
if(P2PNET_CONFIG)
  set(_config_args --config "${P2PNET_CONFIG}")
endif()

# 1. Install.
run_step(install "${CMAKE_COMMAND}" --install "${P2PNET_BUILD_DIR}" --prefix "${_prefix}" ${_config_args})

foreach(_expected
    include/p2pnet.h include/p2pnet.hpp
    ${P2PNET_LIBDIR}/libp2pnet.a ${P2PNET_LIBDIR}/libp2pnet.so ${P2PNET_LIBDIR}/libp2pnet.so.0
    ${P2PNET_LIBDIR}/pkgconfig/p2pnet.pc)
  if(NOT EXISTS "${_prefix}/${_expected}")
    message(FATAL_ERROR "[install_consumer] missing installed file ${_expected}")
  endif()
endforeach()
file(GLOB_RECURSE _package_config "${_prefix}/*/p2pnetConfig.cmake")
if(NOT _package_config)
  message(FATAL_ERROR "[install_consumer] p2pnetConfig.cmake was not installed")
endif()

# 2. Configure and build the consumer against the installed package only.
set(_build_type_args)
if(NOT P2PNET_MULTI_CONFIG AND P2PNET_CONFIG)
  set(_build_type_args "-DCMAKE_BUILD_TYPE=${P2PNET_CONFIG}")
endif()
run_step(configure "${CMAKE_COMMAND}"
  -S "${P2PNET_CONSUMER_SOURCE_DIR}" -B "${_consumer_build}"
  -G "${P2PNET_GENERATOR}"
  "-DCMAKE_PREFIX_PATH=${_prefix}"
  "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"
  "-DCMAKE_C_COMPILER=${P2PNET_C_COMPILER}"
  "-DCMAKE_CXX_COMPILER=${P2PNET_CXX_COMPILER}"
  ${_build_type_args})
run_step(build "${CMAKE_COMMAND}" --build "${_consumer_build}" ${_config_args})

# 3. Run the consumers.
set(_bin_dir "${_consumer_build}")
if(P2PNET_MULTI_CONFIG AND P2PNET_CONFIG)
  set(_bin_dir "${_consumer_build}/${P2PNET_CONFIG}")
endif()
foreach(_exe p2pnet_consumer p2pnet_consumer_c p2pnet_consumer_shared)
  run_step("run ${_exe}" "${_bin_dir}/${_exe}")
endforeach()

# 4. pkg-config: flags must build a working program; --static must list the
# native libraries a static link needs.
find_program(_pkg_config NAMES pkg-config pkgconf)
if(NOT _pkg_config)
  message(STATUS "[install_consumer] pkg-config not found; skipping the p2pnet.pc check")
  return()
endif()
set(ENV{PKG_CONFIG_PATH} "${_prefix}/${P2PNET_LIBDIR}/pkgconfig")
execute_process(COMMAND "${_pkg_config}" --cflags --libs p2pnet
  RESULT_VARIABLE _result OUTPUT_VARIABLE _pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "[install_consumer] pkg-config --cflags --libs p2pnet failed")
endif()
execute_process(COMMAND "${_pkg_config}" --static --libs p2pnet
  RESULT_VARIABLE _result OUTPUT_VARIABLE _pc_static OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _result EQUAL 0 OR NOT _pc_static MATCHES "-lpthread")
  message(FATAL_ERROR "[install_consumer] pkg-config --static --libs lacks the native libs: ${_pc_static}")
endif()
message(STATUS "[install_consumer] pkg-config: ${_pc_flags} | static: ${_pc_static}")
separate_arguments(_pc_flags UNIX_COMMAND "${_pc_flags}")
run_step("pkg-config build" "${P2PNET_C_COMPILER}" -Wall -Wextra
  "${P2PNET_CONSUMER_SOURCE_DIR}/main.c" ${_pc_flags} -o "${P2PNET_WORK_DIR}/pkgconfig_consumer")
set(ENV{LD_LIBRARY_PATH} "${_prefix}/${P2PNET_LIBDIR}")
run_step("run pkgconfig_consumer" "${P2PNET_WORK_DIR}/pkgconfig_consumer")
