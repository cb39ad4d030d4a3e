# KiwiDotnet.cmake - the .NET side of the tests: our stand-in for Kiwi, and
# the two runtimes it runs on. Included once by the top-level CMakeLists.txt
# when tests or benchmarks are built.
#
# Kiwi is a .NET program (CoreCLR; Native AOT for its releases, the same
# System.IO.Pipes code). Its ipc package is imitated call for call by one C#
# file, tests_common/KiwiIpc.cs (the stand-in), which every .NET
# program of the tests is compiled with. Mono's mcs compiles them (no .NET
# SDK is needed), and each runs on:
#
#   Mono      mono PROGRAM.exe          (Debian's mono-runtime)
#   CoreCLR   dotnet PROGRAM.exe        (Microsoft.NETCore.App 8 or newer;
#                                        scripts/install-deps puts 8.0.4 from
#                                        PyPI in the venv, .venv/dotnet/)
#
# CoreCLR runs an mcs-built assembly unchanged, given a
# PROGRAM.runtimeconfig.json beside it (dotnet.runtimeconfig.json here):
# Microsoft.NETCore.App 8.0 or, with rollForward LatestMajor, the newest
# major version present (a machine with .NET 10, Kiwi's target, runs the
# peers on it); invariant globalization, so that no libicu is needed (no
# pipe or UTF-8 code depends on culture data).
#
# Sets (all cached or global):
#   KIWI_IPC_MCS, KIWI_IPC_MONO        mcs and mono, or NOTFOUND
#   KIWI_IPC_DOTNET                    the dotnet host found, or NOTFOUND
#   KIWI_IPC_CORECLR                   that host if it has a
#                                      Microsoft.NETCore.App >= 8, else ""
#   KIWI_IPC_CORECLR_VERSION           that runtime's version
#   KIWI_IPC_CORECLR_ENV               environment for CoreCLR peers run by
#                                      tests (no diagnostics files in $TMPDIR)
#   KIWI_IPC_DOTNET_STANDIN            the stand-in's source, KiwiIpc.cs
# and defines kiwi_ipc_dotnet_program() below.

find_program(KIWI_IPC_MCS mcs DOC "Mono's C# compiler, for the .NET peers")
find_program(KIWI_IPC_MONO mono DOC "Mono's runtime, for the .NET peers")

# CoreCLR: the venv's (scripts/install-deps) before any dotnet on PATH.
set(_kiwi_dotnet_hints)
if(DEFINED ENV{KIWI_IPC_VENV})
  list(APPEND _kiwi_dotnet_hints "$ENV{KIWI_IPC_VENV}/dotnet")
endif()
if(Python3_EXECUTABLE)
  # <venv>/bin/python3 -> <venv>/dotnet
  get_filename_component(_kiwi_venv "${Python3_EXECUTABLE}" DIRECTORY)
  get_filename_component(_kiwi_venv "${_kiwi_venv}" DIRECTORY)
  list(APPEND _kiwi_dotnet_hints "${_kiwi_venv}/dotnet")
endif()
list(APPEND _kiwi_dotnet_hints "${PROJECT_SOURCE_DIR}/.venv/dotnet")
find_program(KIWI_IPC_DOTNET dotnet HINTS ${_kiwi_dotnet_hints}
  DOC "The dotnet host of Microsoft's CoreCLR, for the .NET peers")

set(KIWI_IPC_CORECLR "")
set(KIWI_IPC_CORECLR_VERSION "")
if(KIWI_IPC_DOTNET)
  execute_process(COMMAND ${KIWI_IPC_DOTNET} --list-runtimes
    OUTPUT_VARIABLE _kiwi_runtimes ERROR_QUIET RESULT_VARIABLE _kiwi_rc
    TIMEOUT 60)
  # "Microsoft.NETCore.App 8.0.4 [/path]": the newest one listed.
  string(REGEX MATCHALL "Microsoft\\.NETCore\\.App [0-9]+\\.[0-9]+\\.[0-9]+"
         _kiwi_apps "${_kiwi_runtimes}")
  foreach(_app IN LISTS _kiwi_apps)
    string(REPLACE "Microsoft.NETCore.App " "" _v "${_app}")
    if(_v VERSION_GREATER_EQUAL 8 AND _v VERSION_GREATER KIWI_IPC_CORECLR_VERSION)
      set(KIWI_IPC_CORECLR_VERSION ${_v})
    endif()
  endforeach()
  if(KIWI_IPC_CORECLR_VERSION)
    set(KIWI_IPC_CORECLR ${KIWI_IPC_DOTNET})
  endif()
endif()

# CoreCLR writes dotnet-diagnostic-* sockets and clr-debug-pipe-* FIFOs into
# $TMPDIR for every process (left behind if it is killed) unless told not
# to. Only tests_interop/test_coreclr.py lets it, on purpose.
set(KIWI_IPC_CORECLR_ENV "DOTNET_EnableDiagnostics=0")

set(KIWI_IPC_DOTNET_STANDIN ${PROJECT_SOURCE_DIR}/tests_common/KiwiIpc.cs)

if(KIWI_IPC_MCS AND KIWI_IPC_MONO)
  message(STATUS "kiwi-ipc: .NET peers on Mono: ${KIWI_IPC_MONO} (built by ${KIWI_IPC_MCS})")
else()
  message(STATUS "kiwi-ipc: mcs or mono not found: the .NET peers' tests "
                 "will be skipped (apt-get install mono-mcs mono-runtime)")
endif()
if(KIWI_IPC_CORECLR AND KIWI_IPC_MCS)
  message(STATUS "kiwi-ipc: .NET peers on CoreCLR: ${KIWI_IPC_CORECLR} "
                 "(Microsoft.NETCore.App ${KIWI_IPC_CORECLR_VERSION})")
else()
  if(KIWI_IPC_DOTNET)
    set(_kiwi_why "${KIWI_IPC_DOTNET} has no Microsoft.NETCore.App 8 or newer")
  elseif(NOT KIWI_IPC_MCS)
    set(_kiwi_why "no mcs to build the peers")
  else()
    set(_kiwi_why "no dotnet host found")
  endif()
  message(STATUS "kiwi-ipc: CoreCLR not found (${_kiwi_why}): the tests "
                 "labelled coreclr will be skipped (scripts/install-deps "
                 "puts CoreCLR 8 in .venv/dotnet)")
  # CI runs the coreclr tests; they must not quietly skip there.
  if(BUILD_TESTING AND KIWI_IPC_BUILD_TESTS AND DEFINED ENV{CI})
    message(SEND_ERROR "kiwi-ipc: CI is set but CoreCLR is missing "
                       "(${_kiwi_why}); run scripts/install-deps")
  endif()
endif()

# kiwi_ipc_dotnet_program(<target> <name> <source.cs>... [OPTIMIZE])
#
# Builds <name>.exe in this directory of the build tree from the sources
# and the shared stand-in (KiwiIpc.cs) with mcs, warnings as errors, and
# puts <name>.runtimeconfig.json beside it, so that it runs both as
# `mono <name>.exe` and `dotnet <name>.exe`. Sets <target>_EXE to its path,
# or to "" when mcs is missing (nothing is built then).
function(kiwi_ipc_dotnet_program target name)
  cmake_parse_arguments(PARSE_ARGV 2 arg "OPTIMIZE" "" "")
  if(NOT KIWI_IPC_MCS)
    set(${target}_EXE "" PARENT_SCOPE)
    return()
  endif()
  set(exe ${CMAKE_CURRENT_BINARY_DIR}/${name}.exe)
  set(sources)
  foreach(src IN LISTS arg_UNPARSED_ARGUMENTS)
    get_filename_component(src "${src}" ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND sources ${src})
  endforeach()
  list(APPEND sources ${KIWI_IPC_DOTNET_STANDIN})
  set(flags -nologo -warnaserror+)
  if(arg_OPTIMIZE)
    list(APPEND flags -optimize+)
  endif()
  add_custom_command(
    OUTPUT ${exe}
    COMMAND ${KIWI_IPC_MCS} ${flags} -out:${exe} ${sources}
    DEPENDS ${sources}
    COMMENT "Building the .NET program ${name}.exe with mcs"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${exe})
  configure_file(${PROJECT_SOURCE_DIR}/tests_common/dotnet.runtimeconfig.json
    ${CMAKE_CURRENT_BINARY_DIR}/${name}.runtimeconfig.json COPYONLY)
  set(${target}_EXE ${exe} PARENT_SCOPE)
endfunction()
