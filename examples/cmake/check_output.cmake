# check_output.cmake - run an example and compare its output with the
# expected file (see KiwiExampleTest.cmake).
#
# cmake -DEXPECTED=<file> -DENABLED=<0|1> [-DSKIP_MESSAGE=<text>]
#       [-DTIMEOUT=<s>] -P check_output.cmake -- <command> [<arg>...]

if(NOT ENABLED)
  # ctest marks the test skipped when it sees this (SKIP_REGULAR_EXPRESSION).
  message("kiwi-ipc example skipped: ${SKIP_MESSAGE}")
  return()
endif()

set(command)
set(seen_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
  if(seen_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(seen_separator TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "check_output.cmake: no command after --")
endif()
if(NOT TIMEOUT)
  set(TIMEOUT 60)
endif()

execute_process(COMMAND ${command}
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE status
  TIMEOUT ${TIMEOUT})
file(READ "${EXPECTED}" want)

# The pids differ from run to run.
string(REGEX REPLACE "pid=[0-9]+" "pid=N" out_cmp "${out}")
string(REGEX REPLACE "pid=[0-9]+" "pid=N" want_cmp "${want}")

string(JOIN " " shown ${command})
if(NOT status STREQUAL "0" OR NOT out_cmp STREQUAL want_cmp)
  message("command: ${shown}\nexit status: ${status}\n"
          "---- expected output (${EXPECTED}):\n${want}"
          "---- actual output:\n${out}"
          "---- stderr:\n${err}")
  message(FATAL_ERROR "the example's output differs from ${EXPECTED}"
                      " or it failed")
endif()
message("${out}")
if(err)
  message("---- stderr:\n${err}")
endif()
