# The Python binding: SWIG turns kiwi_ipc.i into the private extension
# module kiwi_ipc._kiwi_ipc, which sits beside the hand-written package from
# bindings/python in one importable tree in the build directory:
#
#   <build>/python/kiwi_ipc/__init__.py, ..., _kiwi_ipc.<soabi>.so
#
# so that `PYTHONPATH=<build>/python python3 -c "import kiwi_ipc"` works.
# Included from swig/CMakeLists.txt when KIWI_IPC_BUILD_PYTHON is ON.

# -DPython3_EXECUTABLE=... picks the interpreter; by default it is the
# python3 found first on PATH (FindPython alone may prefer another one).
if(NOT Python3_EXECUTABLE)
  find_program(Python3_EXECUTABLE NAMES python3 python
    DOC "Python interpreter the binding is built for")
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)

# The importable tree; tests_py/CMakeLists.txt puts it on PYTHONPATH.
set(KIWI_IPC_PYTHON_DIR "${PROJECT_BINARY_DIR}/python" CACHE INTERNAL
  "Directory to put on PYTHONPATH to import kiwi_ipc from the build tree")
set(_kiwi_py_pkg "${KIWI_IPC_PYTHON_DIR}/kiwi_ipc")
set(_kiwi_py_gen "${CMAKE_CURRENT_BINARY_DIR}/python")
set(_kiwi_py_wrap "${_kiwi_py_gen}/kiwi_ipc_python_wrap.c")

# A custom command rather than UseSWIG: kiwi_ipc.i is shared with the Lua
# build in this same directory, and UseSWIG keeps its options in source-file
# properties of kiwi_ipc.i, where the two languages would collide.
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
  COMMENT "SWIG: generating the Python wrapper"
  VERBATIM)

# Generated code does not get kiwi_ipc_warnings (nor its -Werror).
Python3_add_library(kiwi_ipc_python MODULE WITH_SOABI "${_kiwi_py_wrap}")
set_target_properties(kiwi_ipc_python PROPERTIES
  OUTPUT_NAME _kiwi_ipc
  # A generator expression keeps multi-config generators from adding a
  # per-configuration subdirectory: the module must sit in the package.
  LIBRARY_OUTPUT_DIRECTORY "$<1:${_kiwi_py_pkg}>")
# The static library: the module needs no rpath to find kiwi-ipc.
target_link_libraries(kiwi_ipc_python PRIVATE kiwi_ipc_static)
if(NOT APPLE)
  # Export PyInit__kiwi_ipc only: the library's ipc_* functions stay private
  # to the module, whatever else the process has loaded.
  target_link_options(kiwi_ipc_python PRIVATE -Wl,--exclude-libs,ALL)
endif()

# The hand-written package, copied next to the module at build time.
set(_kiwi_py_src "${PROJECT_SOURCE_DIR}/bindings/python/kiwi_ipc")
set(_kiwi_py_files
  __init__.py
  __init__.pyi
  _errors.py
  _pipe.py
  _kiwi_ipc.pyi
  py.typed)
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
