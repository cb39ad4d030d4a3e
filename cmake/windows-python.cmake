# cmake/windows-python.cmake - the Python binding cross-built for Windows:
# an abi3 extension, kiwi_ipc/_kiwi_ipc.pyd, linked against python3.dll
# (the stable ABI's DLL, so one .pyd serves every CPython >= 3.9 for x64).
# swig/python.cmake includes this instead of its own rules when WIN32:
# FindPython cannot find a Windows CPython from Linux.
#
# KIWI_IPC_WIN_PYTHON_DIR: an embeddable CPython for Windows with the
# headers added (include/), as scripts/fetch-windows-deps makes it; the
# build tree's package is <build>/python/kiwi_ipc, as on POSIX.
set(_kiwi_cache "$ENV{KIWI_IPC_CACHE}")
if(NOT _kiwi_cache)
  set(_kiwi_cache "$ENV{HOME}/.cache/kiwi-ipc")
endif()
set(KIWI_IPC_WIN_PYTHON_DIR "${_kiwi_cache}/windows/python311" CACHE PATH
  "Embeddable CPython for Windows with include/ (scripts/fetch-windows-deps)")
if(NOT EXISTS "${KIWI_IPC_WIN_PYTHON_DIR}/python3.dll" OR
   NOT EXISTS "${KIWI_IPC_WIN_PYTHON_DIR}/include/Python.h")
  message(FATAL_ERROR "kiwi-ipc: no Windows CPython with headers in "
    "${KIWI_IPC_WIN_PYTHON_DIR}: run scripts/fetch-windows-deps python")
endif()

if(NOT KIWI_IPC_SWIG_ABI3)
  message(FATAL_ERROR "kiwi-ipc: the Windows Python module is abi3, and "
    ${KIWI_IPC_SWIG_ABI3_WHY})
endif()

set(KIWI_IPC_PYTHON_DIR "${PROJECT_BINARY_DIR}/python" CACHE INTERNAL
  "Directory to put on PYTHONPATH to import kiwi_ipc from the build tree")
set(_kiwi_py_pkg "${KIWI_IPC_PYTHON_DIR}/kiwi_ipc")
set(_kiwi_py_gen "${CMAKE_CURRENT_BINARY_DIR}/python")
set(_kiwi_py_wrap "${_kiwi_py_gen}/kiwi_ipc_python_wrap.c")

# The same SWIG run as swig/python.cmake's.
add_custom_command(
  OUTPUT "${_kiwi_py_wrap}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${_kiwi_py_gen}"
  COMMAND "${SWIG_EXECUTABLE}" -python -threads -noproxy
          -module _kiwi_ipc
          -I${PROJECT_SOURCE_DIR}/libipc/include
          -I${CMAKE_CURRENT_SOURCE_DIR}
          -o "${_kiwi_py_wrap}"
          "${CMAKE_CURRENT_SOURCE_DIR}/kiwi_ipc.i"
  DEPENDS
    "${CMAKE_CURRENT_SOURCE_DIR}/kiwi_ipc.i"
    "${CMAKE_CURRENT_SOURCE_DIR}/python_typemaps.i"
    "${PROJECT_SOURCE_DIR}/libipc/include/kiwi_ipc.h"
  COMMENT "SWIG: generating the Python wrapper (Windows)"
  VERBATIM)

# With the hand-written C behind the typemaps (bindings/python) and the C
# shared with the Lua binding (bindings/common), as swig/python.cmake has.
add_library(kiwi_ipc_python MODULE "${_kiwi_py_wrap}"
  "${PROJECT_SOURCE_DIR}/bindings/python/kiwi_ipc_py.c"
  "${PROJECT_SOURCE_DIR}/bindings/common/kiwi_ipc_bind.c")
target_include_directories(kiwi_ipc_python PRIVATE
  "${KIWI_IPC_WIN_PYTHON_DIR}/include"
  "${PROJECT_SOURCE_DIR}/bindings/python"
  "${PROJECT_SOURCE_DIR}/bindings/common")
# PC/pyconfig.h names python3.lib for MSVC only; mingw's ld links against
# the DLL itself.
target_compile_definitions(kiwi_ipc_python PRIVATE
  Py_LIMITED_API=0x03090000 MS_WIN64)
target_link_libraries(kiwi_ipc_python PRIVATE kiwi_ipc_static
  "${KIWI_IPC_WIN_PYTHON_DIR}/python3.dll")
set_target_properties(kiwi_ipc_python PROPERTIES
  PREFIX ""
  OUTPUT_NAME _kiwi_ipc
  SUFFIX ".pyd"
  LIBRARY_OUTPUT_DIRECTORY "$<1:${_kiwi_py_pkg}>")
# Export PyInit__kiwi_ipc only.
target_link_options(kiwi_ipc_python PRIVATE -Wl,--exclude-libs,ALL)

set(_kiwi_py_src "${PROJECT_SOURCE_DIR}/bindings/python/kiwi_ipc")
file(GLOB _kiwi_py_files RELATIVE "${_kiwi_py_src}" CONFIGURE_DEPENDS
  "${_kiwi_py_src}/*.py" "${_kiwi_py_src}/*.pyi" "${_kiwi_py_src}/py.typed")
set(_kiwi_py_copies)
foreach(_f IN LISTS _kiwi_py_files)
  add_custom_command(
    OUTPUT "${_kiwi_py_pkg}/${_f}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different
            "${_kiwi_py_src}/${_f}" "${_kiwi_py_pkg}/${_f}"
    DEPENDS "${_kiwi_py_src}/${_f}"
    VERBATIM)
  list(APPEND _kiwi_py_copies "${_kiwi_py_pkg}/${_f}")
endforeach()
add_custom_target(kiwi_ipc_python_package ALL DEPENDS ${_kiwi_py_copies})
add_dependencies(kiwi_ipc_python kiwi_ipc_python_package)
