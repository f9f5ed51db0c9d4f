# Install tests, run by ctest (label install) as `cmake -P` with a MODE:
#
#   install           fixture: `cmake --install --strip` the build tree into a
#                     fresh prefix (nothing is rebuilt), check the files, the
#                     soname and that no installed file names the prefix, then
#                     move the whole tree elsewhere. Every other mode uses the
#                     moved tree, so each one also checks that it is relocatable.
#   cmake             configure, build and run cpp-tests/consumer (find_package):
#                     static C++, static C, shared C++ wrapper, and a C++14
#                     target raised to C++17 by p2pnet::p2pnet.
#   pkgconfig-shared  build main.c from `pkg-config --cflags --libs p2pnet`, run it
#                     with LD_LIBRARY_PATH; check Libs.private for a -static link.
#   pkgconfig-static  build main.c and wrapper_main.cpp from p2pnet-static.pc and
#                     run them without LD_LIBRARY_PATH (no libp2pnet.so needed).
#   cxx14             compiling p2pnet.hpp as C++14 must fail with one clear error
#                     (and no other error from inside the header).
#
# Inputs (-D): MODE, P2PNET_BUILD_DIR, P2PNET_CONFIG, P2PNET_WORK_DIR,
# P2PNET_CONSUMER_SOURCE_DIR, P2PNET_GENERATOR, P2PNET_MULTI_CONFIG,
# P2PNET_C_COMPILER, P2PNET_CXX_COMPILER, P2PNET_LIBDIR (relative, default lib),
# P2PNET_SONAME, P2PNET_PKG_CONFIG.
cmake_minimum_required(VERSION 3.20)

if(NOT P2PNET_LIBDIR)
  set(P2PNET_LIBDIR lib)
endif()
foreach(_var MODE P2PNET_WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "InstallConsumerTest.cmake: ${_var} is required")
  endif()
endforeach()

# The tree is installed here, then moved to _moved (another depth, another name).
set(_installed "${P2PNET_WORK_DIR}/installed")
set(_moved "${P2PNET_WORK_DIR}/moved/opt/p2pnet")
set(_libdir "${_moved}/${P2PNET_LIBDIR}")

function(run_step name)
  message(STATUS "[${MODE}] ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${name} failed (${_result})")
  endif()
endfunction()

function(pkg_config out_var)
  execute_process(COMMAND "${P2PNET_PKG_CONFIG}" ${ARGN}
    RESULT_VARIABLE _result OUTPUT_VARIABLE _out ERROR_VARIABLE _err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "[${MODE}] pkg-config ${ARGN} failed: ${_err}")
  endif()
  message(STATUS "[${MODE}] pkg-config ${ARGN}: ${_out}")
  set(${out_var} "${_out}" PARENT_SCOPE)
endfunction()

# DT_NEEDED entries and DT_SONAME of an ELF file (readelf from binutils).
function(elf_dynamic file out_var)
  find_program(_readelf NAMES readelf)
  if(NOT _readelf)
    set(${out_var} "" PARENT_SCOPE)
    return()
  endif()
  execute_process(COMMAND "${_readelf}" -d "${file}" OUTPUT_VARIABLE _out RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "[${MODE}] readelf -d ${file} failed")
  endif()
  set(${out_var} "${_out}" PARENT_SCOPE)
endfunction()

if(NOT EXISTS "${_moved}" AND NOT MODE STREQUAL "install")
  message(FATAL_ERROR "[${MODE}] no installed tree at ${_moved}: run the install_tree test first")
endif()

# ---------------------------------------------------------------------------
if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${P2PNET_WORK_DIR}")
  file(MAKE_DIRECTORY "${P2PNET_WORK_DIR}")
  set(_config_args)
  if(P2PNET_CONFIG)
    set(_config_args --config "${P2PNET_CONFIG}")
  endif()
  run_step(install "${CMAKE_COMMAND}" --install "${P2PNET_BUILD_DIR}" --prefix "${_installed}"
           --strip ${_config_args})

  foreach(_expected
      include/p2pnet.h include/p2pnet.hpp
      ${P2PNET_LIBDIR}/libp2pnet.a ${P2PNET_LIBDIR}/libp2pnet.so
      ${P2PNET_LIBDIR}/${P2PNET_SONAME}
      ${P2PNET_LIBDIR}/pkgconfig/p2pnet.pc ${P2PNET_LIBDIR}/pkgconfig/p2pnet-static.pc
      ${P2PNET_LIBDIR}/cmake/p2pnet/p2pnetConfig.cmake
      ${P2PNET_LIBDIR}/cmake/p2pnet/p2pnetConfigVersion.cmake)
    if(NOT EXISTS "${_installed}/${_expected}")
      message(FATAL_ERROR "[install] missing installed file ${_expected}")
    endif()
  endforeach()

  # The soname inside the library is the one the files are named after.
  elf_dynamic("${_installed}/${P2PNET_LIBDIR}/${P2PNET_SONAME}" _dynamic)
  if(_dynamic AND NOT _dynamic MATCHES "Library soname: \\[${P2PNET_SONAME}\\]")
    message(FATAL_ERROR "[install] libp2pnet.so does not have soname ${P2PNET_SONAME}:\n${_dynamic}")
  endif()

  # Relocatable: no installed text file names the prefix it was installed to.
  file(GLOB_RECURSE _text_files "${_installed}/*.cmake" "${_installed}/*.pc")
  foreach(_file IN LISTS _text_files)
    file(READ "${_file}" _text)
    string(FIND "${_text}" "${_installed}" _at)
    if(NOT _at EQUAL -1)
      message(FATAL_ERROR "[install] ${_file} names the install prefix ${_installed}")
    endif()
  endforeach()

  get_filename_component(_moved_parent "${_moved}" DIRECTORY)
  file(MAKE_DIRECTORY "${_moved_parent}")
  file(RENAME "${_installed}" "${_moved}")
  message(STATUS "[install] installed (stripped) and moved to ${_moved}")

# ---------------------------------------------------------------------------
elseif(MODE STREQUAL "cmake")
  set(_consumer_build "${P2PNET_WORK_DIR}/consumer-build")
  file(REMOVE_RECURSE "${_consumer_build}")
  set(_build_type_args)
  set(_config_args)
  if(P2PNET_CONFIG)
    if(P2PNET_MULTI_CONFIG)
      set(_config_args --config "${P2PNET_CONFIG}")
    else()
      set(_build_type_args "-DCMAKE_BUILD_TYPE=${P2PNET_CONFIG}")
    endif()
  endif()
  run_step(configure "${CMAKE_COMMAND}"
    -S "${P2PNET_CONSUMER_SOURCE_DIR}" -B "${_consumer_build}"
    -G "${P2PNET_GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${_moved}"
    "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"
    "-DCMAKE_C_COMPILER=${P2PNET_C_COMPILER}"
    "-DCMAKE_CXX_COMPILER=${P2PNET_CXX_COMPILER}"
    ${_build_type_args})
  run_step(build "${CMAKE_COMMAND}" --build "${_consumer_build}" ${_config_args} -j 2)
  set(_bin_dir "${_consumer_build}")
  if(P2PNET_MULTI_CONFIG AND P2PNET_CONFIG)
    set(_bin_dir "${_consumer_build}/${P2PNET_CONFIG}")
  endif()
  foreach(_exe p2pnet_consumer p2pnet_consumer_c p2pnet_consumer_shared p2pnet_consumer_cxx14_target)
    run_step("run ${_exe}" "${_bin_dir}/${_exe}")
  endforeach()
  elf_dynamic("${_bin_dir}/p2pnet_consumer_shared" _dynamic)
  if(_dynamic AND NOT _dynamic MATCHES "NEEDED[^\n]*\\[${P2PNET_SONAME}\\]")
    message(FATAL_ERROR "[cmake] p2pnet_consumer_shared does not need ${P2PNET_SONAME}:\n${_dynamic}")
  endif()

# ---------------------------------------------------------------------------
elseif(MODE STREQUAL "pkgconfig-shared")
  set(ENV{PKG_CONFIG_PATH} "${_libdir}/pkgconfig")
  unset(ENV{PKG_CONFIG_LIBDIR})
  pkg_config(_flags --cflags --libs p2pnet)
  string(FIND "${_flags}" "${_moved}/" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "[pkgconfig-shared] the flags do not point into the moved tree ${_moved}")
  endif()
  # A fully static link (-static) needs the native libraries: Libs.private.
  pkg_config(_static_flags --static --libs p2pnet)
  if(NOT _static_flags MATCHES "-lpthread")
    message(FATAL_ERROR "[pkgconfig-shared] pkg-config --static --libs p2pnet lacks the native libraries")
  endif()
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(_exe "${P2PNET_WORK_DIR}/pkgconfig_shared_c")
  run_step(build "${P2PNET_C_COMPILER}" -Wall -Wextra "${P2PNET_CONSUMER_SOURCE_DIR}/main.c"
           ${_flags} -o "${_exe}")
  elf_dynamic("${_exe}" _dynamic)
  if(_dynamic AND NOT _dynamic MATCHES "NEEDED[^\n]*\\[${P2PNET_SONAME}\\]")
    message(FATAL_ERROR "[pkgconfig-shared] ${_exe} does not need ${P2PNET_SONAME}:\n${_dynamic}")
  endif()
  set(ENV{LD_LIBRARY_PATH} "${_libdir}")
  run_step(run "${_exe}")

# ---------------------------------------------------------------------------
elseif(MODE STREQUAL "pkgconfig-static")
  set(ENV{PKG_CONFIG_PATH} "${_libdir}/pkgconfig")
  unset(ENV{PKG_CONFIG_LIBDIR})
  unset(ENV{LD_LIBRARY_PATH})
  pkg_config(_cflags --cflags p2pnet-static)
  pkg_config(_libs --libs p2pnet-static)
  if(NOT _libs MATCHES "${_moved}/[^ ]*libp2pnet\\.a")
    message(FATAL_ERROR "[pkgconfig-static] the flags do not name libp2pnet.a in the moved tree")
  endif()
  separate_arguments(_cflags UNIX_COMMAND "${_cflags}")
  separate_arguments(_libs UNIX_COMMAND "${_libs}")
  run_step("build C" "${P2PNET_C_COMPILER}" -Wall -Wextra ${_cflags}
           "${P2PNET_CONSUMER_SOURCE_DIR}/main.c" ${_libs} -o "${P2PNET_WORK_DIR}/pkgconfig_static_c")
  run_step("build C++" "${P2PNET_CXX_COMPILER}" -std=c++17 -Wall -Wextra ${_cflags}
           "${P2PNET_CONSUMER_SOURCE_DIR}/wrapper_main.cpp" ${_libs}
           -o "${P2PNET_WORK_DIR}/pkgconfig_static_cxx")
  foreach(_exe pkgconfig_static_c pkgconfig_static_cxx)
    elf_dynamic("${P2PNET_WORK_DIR}/${_exe}" _dynamic)
    if(_dynamic MATCHES "libp2pnet")
      message(FATAL_ERROR "[pkgconfig-static] ${_exe} needs a shared libp2pnet:\n${_dynamic}")
    endif()
    run_step("run ${_exe} (no LD_LIBRARY_PATH)" "${P2PNET_WORK_DIR}/${_exe}")
  endforeach()

# ---------------------------------------------------------------------------
elseif(MODE STREQUAL "cxx14")
  # (a) A file that only includes the wrapper: exactly one error, the clear one.
  # (b) A real consumer (wrapper_main.cpp): the first error is the clear one and
  #     none comes from inside p2pnet.hpp (the rest are the consumer's own uses
  #     of p2pnet:: names, which the compiler reports after it).
  set(_only_include "${P2PNET_WORK_DIR}/cxx14_include_only.cpp")
  file(WRITE "${_only_include}" "#include <p2pnet.hpp>\nint main() { return 0; }\n")
  foreach(_source "${_only_include}" "${P2PNET_CONSUMER_SOURCE_DIR}/wrapper_main.cpp")
    execute_process(
      COMMAND "${P2PNET_CXX_COMPILER}" -std=c++14 -fsyntax-only "-I${_moved}/include" "${_source}"
      RESULT_VARIABLE _result OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
    get_filename_component(_name "${_source}" NAME)
    if(_result EQUAL 0)
      message(FATAL_ERROR "[cxx14] ${_name}: p2pnet.hpp compiled as C++14; it must refuse")
    endif()
    string(REGEX MATCHALL "[^\n]*error:[^\n]*" _errors "${_out}")
    list(LENGTH _errors _error_count)
    list(GET _errors 0 _first)
    message(STATUS "[cxx14] ${_name}: ${_error_count} error(s), the first:\n  ${_first}")
    if(NOT _first MATCHES "p2pnet.hpp requires C\\+\\+17")
      message(FATAL_ERROR "[cxx14] ${_name}: the first error does not say that C++17 is required:\n${_out}")
    endif()
    list(REMOVE_AT _errors 0)
    foreach(_error IN LISTS _errors)
      if(_error MATCHES "p2pnet\\.hpp:")
        message(FATAL_ERROR "[cxx14] ${_name}: a second error inside p2pnet.hpp:\n${_out}")
      endif()
    endforeach()
    if(_source STREQUAL _only_include AND NOT _error_count EQUAL 1)
      message(FATAL_ERROR "[cxx14] ${_name}: expected one error, got ${_error_count}:\n${_out}")
    endif()
  endforeach()

else()
  message(FATAL_ERROR "InstallConsumerTest.cmake: unknown MODE ${MODE}")
endif()
