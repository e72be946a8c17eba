# settings.cmake - writes the SETTINGS part of pgmld.conf(5) from
# `pgmld --help`, so that the man page lists every setting with the default,
# type, environment variable, flag and description the code has.  The part
# lies between the lines `.\" BEGIN SETTINGS` and `.\" END SETTINGS` of IN.
#
#   cmake -DPGMLD=build/daemon/pgmld -DIN=docs/man/pgmld.conf.5 \
#         -DOUT=docs/man/pgmld.conf.5 -P docs/man/settings.cmake
#
# MODE=check: writes nothing, and fails naming what differs when IN's part
# is not what `pgmld --help` gives (the test deploy_man_settings).  The
# build runs it to make the installed page (deploy/CMakeLists.txt).
cmake_minimum_required(VERSION 3.22)
foreach(v PGMLD IN)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "settings.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${PGMLD} --help OUTPUT_VARIABLE help ERROR_VARIABLE err
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "settings.cmake: ${PGMLD} --help failed (${rc}): ${err}")
endif()

# roff text: a backslash is \e, and a line never starts with a control
# character.  `-` in option and variable names is \- (a real minus).
function(roff out text)
  string(REPLACE "\\" "\\e" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# CMake lists split on ';' and treat '[' ']' specially: hide them first.
string(REPLACE ";" "@SEMI@" help "${help}")
string(REPLACE "[" "@LB@" help "${help}")
string(REPLACE "]" "@RB@" help "${help}")
string(REPLACE "\n" ";" lines "${help}")

set(part "")
set(section "")
set(key "")
set(n 0)
macro(flush_setting)
  if(key)
    string(STRIP "${desc}" desc)
    string(REGEX REPLACE "  +" "  " desc "${desc}")
    roff(desc "${desc}")
    if(default STREQUAL "\"\"")
      set(shown "empty")
    else()
      roff(shown "${default}")
      set(shown "\\fB${shown}\\fR")
    endif()
    string(REPLACE "-" "\\-" rflag "${flag}")
    string(APPEND part ".TP\n.B ${key}\n"
           "\\&\\fI${type}\\fR, default ${shown}; environment \\fB\\%${env}\\fR, flag \\fB\\%${rflag}\\fR.\n"
           ".br\n\\&${desc}\n")
    math(EXPR n "${n} + 1")
  endif()
  set(key "")
  set(desc "")
endmacro()

foreach(line IN LISTS lines)
  if(line MATCHES "^@LB@([a-z_]+)@RB@$")
    set(next_section "${CMAKE_MATCH_1}")
    flush_setting()
    set(section "${next_section}")
    string(APPEND part ".SS @LB@${section}@RB@\n")
  elseif(NOT section)
    # the usage text before the first section
  elseif(line MATCHES "^  (--[a-z0-9-]+) ([A-Z-]+)$")
    # Before flush_setting(), whose regexes reset CMAKE_MATCH_*.
    set(next_flag "${CMAKE_MATCH_1}")
    set(next_type "${CMAKE_MATCH_2}")
    flush_setting()
    set(flag "${next_flag}")
    set(type "${next_type}")
  elseif(line MATCHES "^      ([a-z0-9_]+) = (.*)   \\(env ([A-Z0-9_]+)\\)$")
    set(key "${CMAKE_MATCH_1}")
    set(default "${CMAKE_MATCH_2}")
    set(env "${CMAKE_MATCH_3}")
  elseif(key AND line MATCHES "^      (.*)$")
    string(APPEND desc " ${CMAKE_MATCH_1}")
  elseif(line MATCHES "^ *$")
    flush_setting()
  else()
    message(FATAL_ERROR "settings.cmake: cannot read this line of pgmld --help: ${line}")
  endif()
endforeach()
flush_setting()
if(n LESS 10)
  message(FATAL_ERROR "settings.cmake: found only ${n} settings in ${PGMLD} --help")
endif()
string(REPLACE "@SEMI@" ";" part "${part}")
string(REPLACE "@LB@" "[" part "${part}")
string(REPLACE "@RB@" "]" part "${part}")

file(READ "${IN}" page)
set(begin ".\\\" BEGIN SETTINGS (docs/man/settings.cmake writes this part from pgmld --help)\n")
set(end ".\\\" END SETTINGS\n")
string(FIND "${page}" "${begin}" b)
string(FIND "${page}" "${end}" e)
if(b LESS 0 OR e LESS b)
  message(FATAL_ERROR "settings.cmake: ${IN} lacks the lines\n${begin}${end}")
endif()
string(LENGTH "${begin}" blen)
math(EXPR body_at "${b} + ${blen}")
math(EXPR old_len "${e} - ${body_at}")
string(SUBSTRING "${page}" 0 ${body_at} head)
string(SUBSTRING "${page}" ${body_at} ${old_len} old)
string(SUBSTRING "${page}" ${e} -1 tail)

if(MODE STREQUAL "check")
  if(NOT old STREQUAL part)
    # Name the settings the page lacks, then fail on any difference.
    string(REGEX MATCHALL "\n\\.B [a-z0-9_]+\n" want "${part}")
    foreach(w IN LISTS want)
      string(FIND "${old}" "${w}" at)
      if(at LESS 0)
        string(STRIP "${w}" w)
        string(REPLACE ".B " "" w "${w}")
        message(SEND_ERROR "${IN}: setting ${w} is missing")
      endif()
    endforeach()
    message(FATAL_ERROR "${IN}: the SETTINGS part differs from ${PGMLD} --help; "
            "regenerate it: cmake -DPGMLD=${PGMLD} -DIN=${IN} -DOUT=${IN} -P ${CMAKE_CURRENT_LIST_FILE}")
  endif()
  message(STATUS "${IN}: the ${n} settings of pgmld --help, up to date")
  return()
endif()
if(NOT DEFINED OUT)
  message(FATAL_ERROR "settings.cmake: -DOUT=... is required (or -DMODE=check)")
endif()
file(WRITE "${OUT}.tmp" "${head}${part}${tail}")
file(RENAME "${OUT}.tmp" "${OUT}")
