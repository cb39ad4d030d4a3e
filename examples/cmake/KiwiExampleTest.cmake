# KiwiExampleTest.cmake - register an example as a ctest test that runs it
# and compares what it prints with the expected-output file beside it.
# Included by the CMakeLists.txt of examples/python_lua, kiwi_python,
# kiwi_lua and harness.
#
# kiwi_ipc_example_test(<name>
#   COMMAND <program> [<arg>...]
#   EXPECTED <file>                 expected stdout, relative to the example
#   [WORKING_DIRECTORY <dir>]       default: the example's source directory
#   [ENVIRONMENT <VAR=value>...]
#   [REQUIRES <condition>...]       generator expressions that must all be 1;
#                                   otherwise the test is reported as skipped
#   [SKIP_MESSAGE <text>]           why, when it is skipped
#   [LABELS <label>...]             besides "example"
#   [TIMEOUT <seconds>])            default 60
#
# "pid=<digits>" is replaced with "pid=N" on both sides before comparing,
# since the example prints its child's pid. The command must exit with 0.

set(KIWI_IPC_EXAMPLE_CHECK ${CMAKE_CURRENT_LIST_DIR}/check_output.cmake)

# A pipe name of this build tree's own (as examples/CMakeLists.txt does for
# the C example), so that several build trees can run their tests at once.
string(MD5 _kiwi_ipc_example_tree "${PROJECT_BINARY_DIR}")
string(SUBSTRING "${_kiwi_ipc_example_tree}" 0 10 KIWI_IPC_EXAMPLE_TREE_ID)

function(kiwi_ipc_example_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""
    "EXPECTED;WORKING_DIRECTORY;TIMEOUT;SKIP_MESSAGE"
    "COMMAND;ENVIRONMENT;REQUIRES;LABELS")
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 60)
  endif()
  set(enabled 1)
  foreach(condition IN LISTS arg_REQUIRES)
    set(enabled "$<AND:${enabled},${condition}>")
  endforeach()
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND}
            "-DEXPECTED=${CMAKE_CURRENT_SOURCE_DIR}/${arg_EXPECTED}"
            "-DENABLED=${enabled}"
            "-DSKIP_MESSAGE=${arg_SKIP_MESSAGE}"
            "-DTIMEOUT=${arg_TIMEOUT}"
            -P ${KIWI_IPC_EXAMPLE_CHECK} -- ${arg_COMMAND}
    WORKING_DIRECTORY ${arg_WORKING_DIRECTORY})
  math(EXPR ctest_timeout "${arg_TIMEOUT} + 30")
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "${arg_ENVIRONMENT}"
    SKIP_REGULAR_EXPRESSION "kiwi-ipc example skipped: "
    TIMEOUT ${ctest_timeout})
  set(labels example ${arg_LABELS})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}")
endfunction()

# Where the bindings are built. examples/ is configured before swig/, so
# these are the layouts that bindings/python/python.cmake and bindings/lua/lua.cmake document,
# and the targets are looked up at generate time ($<TARGET_EXISTS:...>).
set(KIWI_IPC_EXAMPLE_PYTHONPATH ${PROJECT_BINARY_DIR}/python)
set(KIWI_IPC_EXAMPLE_PYTHON_REQUIRES "$<TARGET_EXISTS:kiwi_ipc_python>")
if(KIWI_IPC_BUILD_PYTHON AND NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()

# kiwi_ipc_example_lua(<tag>) - <tag> is 54 (Lua 5.4) or jit (LuaJIT).
# Sets, in the caller's scope:
#   KIWI_IPC_EXAMPLE_LUA<tag>           the interpreter
#   KIWI_IPC_EXAMPLE_LUA<tag>_ENV       LUA_PATH and LUA_CPATH (and their
#                                       _5_4 forms) for its kiwi_ipc module
#   KIWI_IPC_EXAMPLE_LUA<tag>_REQUIRES  conditions for kiwi_ipc_example_test
# The paths hold no ';;' (the default path): a ';' would split the list.
macro(kiwi_ipc_example_lua tag)
  if("${tag}" STREQUAL "54")
    find_program(KIWI_IPC_LUA_54_INTERPRETER NAMES lua5.4 lua54
                 DOC "Lua interpreter that runs the Lua 5.4 tests")
    set(_kiwi_dir ${PROJECT_BINARY_DIR}/lua/5.4)
  else()
    find_program(KIWI_IPC_LUA_jit_INTERPRETER NAMES luajit
                 DOC "Lua interpreter that runs the Lua jit tests")
    set(_kiwi_dir ${PROJECT_BINARY_DIR}/lua/jit)
  endif()
  set(KIWI_IPC_EXAMPLE_LUA${tag} ${KIWI_IPC_LUA_${tag}_INTERPRETER})
  set(KIWI_IPC_EXAMPLE_LUA${tag}_ENV
    "LUA_PATH=${_kiwi_dir}/?.lua" "LUA_CPATH=${_kiwi_dir}/?.so"
    "LUA_PATH_5_4=${_kiwi_dir}/?.lua" "LUA_CPATH_5_4=${_kiwi_dir}/?.so")
  set(KIWI_IPC_EXAMPLE_LUA${tag}_REQUIRES
    "$<TARGET_EXISTS:kiwi_ipc_lua${tag}>"
    "$<BOOL:${KIWI_IPC_LUA_${tag}_INTERPRETER}>")
endmacro()

# kiwi_ipc_example_standin(<target> <source.cs>) - build a Kiwi stand-in
# (a C# transliteration of a .kiwi script, compiled with the shared KiwiIpc
# stand-in, tests_common/KiwiDotnet.cmake) as <target>.exe in this directory of
# the build tree. Sets, in the caller's scope, for each runtime <rt> (MONO,
# CORECLR):
#   KIWI_IPC_EXAMPLE_<rt>           the command that runs a .NET program
#   KIWI_IPC_EXAMPLE_<rt>_REQUIRES  conditions for kiwi_ipc_example_test
#                                   (false when mcs or the runtime is
#                                   missing: the test is then skipped)
#   KIWI_IPC_EXAMPLE_<rt>_ENV       its environment (CoreCLR: no
#                                   diagnostics files in $TMPDIR)
#   KIWI_IPC_EXAMPLE_<rt>_SUFFIX    the test name's suffix ("", "_coreclr")
#   KIWI_IPC_EXAMPLE_<rt>_LABELS    its ctest labels (CoreCLR: coreclr)
#   KIWI_IPC_EXAMPLE_<rt>_WHY       what it needs, for the skip message
function(kiwi_ipc_example_standin target source)
  kiwi_ipc_dotnet_program(${target} ${target} ${source})
  set(built 0)
  if(${target}_EXE)
    set(built 1)
  endif()
  set(KIWI_IPC_EXAMPLE_MONO ${KIWI_IPC_MONO} PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_CORECLR ${KIWI_IPC_CORECLR} PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_MONO_ENV "" PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_CORECLR_ENV ${KIWI_IPC_CORECLR_ENV} PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_MONO_SUFFIX "" PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_CORECLR_SUFFIX _coreclr PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_MONO_LABELS "" PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_CORECLR_LABELS coreclr PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_MONO_WHY
    "Mono (mcs, mono): apt-get install mono-mcs mono-runtime" PARENT_SCOPE)
  set(KIWI_IPC_EXAMPLE_CORECLR_WHY
    "CoreCLR (scripts/install-deps puts it in .venv/dotnet) and mcs"
    PARENT_SCOPE)
  if(built AND KIWI_IPC_MONO)
    set(KIWI_IPC_EXAMPLE_MONO_REQUIRES 1 PARENT_SCOPE)
  else()
    set(KIWI_IPC_EXAMPLE_MONO_REQUIRES 0 PARENT_SCOPE)
  endif()
  if(built AND KIWI_IPC_CORECLR)
    set(KIWI_IPC_EXAMPLE_CORECLR_REQUIRES 1 PARENT_SCOPE)
  else()
    set(KIWI_IPC_EXAMPLE_CORECLR_REQUIRES 0 PARENT_SCOPE)
  endif()
endfunction()
