# Run after each cargo build of p2pnet (cmake -P): compares the native libraries
# rustc says the static library needs (--print=native-static-libs=FILE) with
# P2PNET_NATIVE_STATIC_LIBS, which the imported targets, the package config and
# the pkg-config files hand to every static consumer. A library rustc needs that
# the list lacks fails the build here, instead of a consumer's link later.
#
#   cmake -DNATIVE_LIBS_FILE=... -DEXPECTED="-lgcc_s -lc ..." -P CheckNativeLibs.cmake
cmake_minimum_required(VERSION 3.20)

if(NOT EXISTS "${NATIVE_LIBS_FILE}")
  # cargo found the crate up to date and did not run rustc; nothing new to check.
  return()
endif()
file(READ "${NATIVE_LIBS_FILE}" _printed)
string(STRIP "${_printed}" _printed)
separate_arguments(_printed UNIX_COMMAND "${_printed}")
separate_arguments(_expected UNIX_COMMAND "${EXPECTED}")

set(_missing)
foreach(_lib IN LISTS _printed)
  if(NOT _lib IN_LIST _expected)
    list(APPEND _missing "${_lib}")
  endif()
endforeach()
if(_missing)
  list(JOIN _printed " " _printed)
  list(JOIN _missing " " _missing)
  message(FATAL_ERROR
    "p2pnet: the static library now needs native libraries that P2PNET_NATIVE_STATIC_LIBS "
    "lacks: ${_missing}\n"
    "rustc's full list: ${_printed}\n"
    "Update the Linux list in CMakeLists.txt (_p2pnet_known_native_libs), or reconfigure "
    "with -DP2PNET_PROBE_NATIVE_LIBS=ON or -DP2PNET_NATIVE_STATIC_LIBS=\"${_printed}\".")
endif()
