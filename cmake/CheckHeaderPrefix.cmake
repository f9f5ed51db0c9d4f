# Checks that every name p2pnet.h declares (types, enum constants, functions,
# macros) carries the library prefix p2pnet_ / P2PNET_, so that the header
# cannot clash with names of the including program.
#
#   cmake -DHEADER=/path/to/p2pnet.h -P CheckHeaderPrefix.cmake
cmake_minimum_required(VERSION 3.20)

if(NOT HEADER OR NOT EXISTS "${HEADER}")
  message(FATAL_ERROR "CheckHeaderPrefix.cmake: HEADER=${HEADER} does not exist")
endif()

file(READ "${HEADER}" _text)
# Drop block and line comments.
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" _text "${_text}")
string(REGEX REPLACE "//[^\n]*" "" _text "${_text}")
string(REPLACE ";" "," _text "${_text}")
string(REPLACE "\n" ";" _lines "${_text}")

set(_names)
foreach(_line IN LISTS _lines)
  if(_line MATCHES "^#define[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
    list(APPEND _names "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^typedef[ \t]+(struct|enum|union)[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
    list(APPEND _names "${CMAKE_MATCH_2}")
    if(_line MATCHES "[ \t]([A-Za-z_][A-Za-z0-9_]*)[ \t]*,[ \t]*$")
      list(APPEND _names "${CMAKE_MATCH_1}")
    endif()
  elseif(_line MATCHES "^typedef[^(]*\\(\\*[ \t]*([A-Za-z_][A-Za-z0-9_]*)\\)")
    list(APPEND _names "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^}[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*,")
    list(APPEND _names "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[^=]")
    list(APPEND _names "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^[A-Za-z_][^(]*[ \t*]([A-Za-z_][A-Za-z0-9_]*)\\(")
    list(APPEND _names "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _names)

set(_bad)
foreach(_name IN LISTS _names)
  if(NOT _name MATCHES "^(p2pnet_|P2PNET_)")
    list(APPEND _bad "${_name}")
  endif()
endforeach()
list(LENGTH _names _count)
if(_bad)
  list(JOIN _bad ", " _bad)
  message(FATAL_ERROR "p2pnet.h declares names without the p2pnet_/P2PNET_ prefix: ${_bad}")
endif()
if(P2PNET_VERBOSE)
  message(STATUS "names: ${_names}")
endif()
message(STATUS "p2pnet.h: all ${_count} declared names carry the p2pnet_/P2PNET_ prefix")
