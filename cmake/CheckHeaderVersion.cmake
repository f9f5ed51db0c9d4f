# Checks that the version macros of p2pnet.h (P2PNET_VERSION_MAJOR/MINOR/PATCH,
# P2PNET_VERSION_STRING; written by cbindgen from cbindgen.toml's after_includes)
# equal the crate's version in Cargo.toml.
#
#   cmake -DHEADER=/path/to/p2pnet.h -DVERSION=0.1.0 -P CheckHeaderVersion.cmake
cmake_minimum_required(VERSION 3.20)

if(NOT EXISTS "${HEADER}" OR NOT VERSION MATCHES "^([0-9]+)\\.([0-9]+)\\.([0-9]+)$")
  message(FATAL_ERROR "CheckHeaderVersion.cmake: needs HEADER (${HEADER}) and VERSION X.Y.Z (${VERSION})")
endif()
set(_expected_MAJOR "${CMAKE_MATCH_1}")
set(_expected_MINOR "${CMAKE_MATCH_2}")
set(_expected_PATCH "${CMAKE_MATCH_3}")
set(_expected_STRING "\"${VERSION}\"")

file(READ "${HEADER}" _text)
set(_wrong)
foreach(_part MAJOR MINOR PATCH STRING)
  if(_text MATCHES "\n#define P2PNET_VERSION_${_part} ([^\n]*)\n")
    set(_found "${CMAKE_MATCH_1}")
  else()
    set(_found "(missing)")
  endif()
  if(NOT _found STREQUAL _expected_${_part})
    list(APPEND _wrong "P2PNET_VERSION_${_part} is ${_found}, Cargo.toml says ${_expected_${_part}}")
  endif()
endforeach()
if(_wrong)
  list(JOIN _wrong "\n  " _wrong)
  message(FATAL_ERROR "p2pnet.h's version macros disagree with Cargo.toml:\n  ${_wrong}\n"
    "Update after_includes in cbindgen.toml, then P2PNET_BLESS_HEADER=1 cargo test --test header")
endif()
message(STATUS "p2pnet.h version macros: ${VERSION}")
