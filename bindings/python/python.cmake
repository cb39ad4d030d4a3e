# python.cmake - the Python binding: SWIG turns swig/kiwi_ipc.i (with
# python_typemaps.i beside this file) into the private extension module
# kiwi_ipc._kiwi_ipc, which sits beside the hand-written package
# (kiwi_ipc/ beside this file) in one importable tree in the build
# directory:
#
#   <build>/python/kiwi_ipc/__init__.py, ..., _kiwi_ipc.<soabi>.so
#
# so that `PYTHONPATH=<build>/python python3 -c "import kiwi_ipc"` works.
# Included from bindings/CMakeLists.txt when KIWI_IPC_BUILD_PYTHON is ON.
# One SWIG run and one package copy serve the POSIX module, its abi3 test
# twin and the Windows module (cross-built with mingw-w64, at the end).

set(_kiwi_py_here "${CMAKE_CURRENT_LIST_DIR}")
set(_kiwi_py_src "${_kiwi_py_here}/kiwi_ipc")
# The hand-written package, copied next to the module at build time.
set(_kiwi_py_files
  __init__.py
  __init__.pyi
  _aio_poll.py
  _errors.py
  _pipe.py
  _wait.py
  _wait.pyi
  aio.py
  aio.pyi
  _kiwi_ipc.pyi
  py.typed)

# The importable tree; tests_py/CMakeLists.txt puts it on PYTHONPATH.
set(KIWI_IPC_PYTHON_DIR "${PROJECT_BINARY_DIR}/python" CACHE INTERNAL
  "Directory to put on PYTHONPATH to import kiwi_ipc from the build tree")
set(_kiwi_py_pkg "${KIWI_IPC_PYTHON_DIR}/kiwi_ipc")

# The Python binding's one SWIG run: the generated wrapper, in *out. A
# custom command rather than UseSWIG: kiwi_ipc.i is shared with the Lua
# build, and UseSWIG keeps its options in source-file properties of
# kiwi_ipc.i, where the two languages would collide.
function(kiwi_ipc_python_wrapper out)
  set(gen "${CMAKE_CURRENT_BINARY_DIR}/python")
  set(wrap "${gen}/kiwi_ipc_python_wrap.c")
  add_custom_command(
    OUTPUT "${wrap}"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${gen}"
    COMMAND "${SWIG_EXECUTABLE}" -python -threads -noproxy
            -module _kiwi_ipc
            -I${PROJECT_SOURCE_DIR}/libipc/include
            -I${_kiwi_py_here}
            -o "${wrap}"
            "${KIWI_IPC_SWIG_INTERFACE}"
    DEPENDS
      ${KIWI_IPC_SWIG_DEPENDS}
      "${_kiwi_py_here}/python_typemaps.i"
      "${_kiwi_py_here}/kiwi_ipc_py.h"
    COMMENT "SWIG: generating the Python wrapper"
    VERBATIM)
  set(${out} "${wrap}" PARENT_SCOPE)
endfunction()

# Copy the hand-written package into `pkg` (a kiwi_ipc/ directory) at build
# time, as the target `target`, which `module` depends on.
function(kiwi_ipc_python_package target pkg module)
  set(copies)
  foreach(f IN LISTS _kiwi_py_files)
    add_custom_command(
      OUTPUT "${pkg}/${f}"
      COMMAND "${CMAKE_COMMAND}" -E copy_if_different
              "${_kiwi_py_src}/${f}" "${pkg}/${f}"
      DEPENDS "${_kiwi_py_src}/${f}"
      VERBATIM)
    list(APPEND copies "${pkg}/${f}")
  endforeach()
  add_custom_target(${target} ALL DEPENDS ${copies})
  add_dependencies(${module} ${target})
endfunction()

# Install `module` and the hand-written files as the package kiwi_ipc into
# the site-packages directory `dir`, component "python" (the one the wheel
# takes: pyproject.toml).
function(kiwi_ipc_python_install module dir)
  install(TARGETS ${module}
    LIBRARY DESTINATION "${dir}/kiwi_ipc" COMPONENT python)
  list(TRANSFORM _kiwi_py_files PREPEND "${_kiwi_py_src}/"
    OUTPUT_VARIABLE sources)
  install(FILES ${sources}
    DESTINATION "${dir}/kiwi_ipc" COMPONENT python)
endfunction()

kiwi_ipc_python_wrapper(_kiwi_py_wrap)

if(WIN32)
  include(${_kiwi_py_here}/windows-python.cmake)
  return()
endif()

# -DPython3_EXECUTABLE=... picks the interpreter; by default it is the
# python3 found first on PATH (FindPython alone may prefer another one).
if(NOT Python3_EXECUTABLE)
  find_program(Python3_EXECUTABLE NAMES python3 python
    DOC "Python interpreter the binding is built for")
endif()
# abi3: one module for every CPython >= 3.9 (Python's stable ABI). The
# typemaps compile under Py_LIMITED_API; see python_typemaps.i for what the
# limited API costs (before Python 3.11, one copy of bytearray/memoryview
# payloads on send).
# The hand-written C (bindings/python/kiwi_ipc_py.c) gets the same define.
# pyproject.toml turns this on for the wheel. CMake >= 3.26 does it through
# FindPython (Development.SABIModule, USE_SABI); older CMake by hand, which
# is the same thing on Linux and macOS, where modules do not link libpython.
if(SKBUILD_SABI_VERSION)
  set(_kiwi_py_abi3_default ON) # wheel.py-api = "cp39" in pyproject.toml
else()
  set(_kiwi_py_abi3_default OFF)
endif()
option(KIWI_IPC_PYTHON_ABI3
  "Build the Python module for the stable ABI (abi3, CPython >= 3.9)"
  ${_kiwi_py_abi3_default})
if(KIWI_IPC_PYTHON_ABI3 AND NOT KIWI_IPC_SWIG_ABI3)
  message(FATAL_ERROR "kiwi-ipc: KIWI_IPC_PYTHON_ABI3 is ON, but "
    ${KIWI_IPC_SWIG_ABI3_WHY} "; or configure with "
    "-DKIWI_IPC_PYTHON_ABI3=OFF for a module of this Python version only")
endif()
set(_kiwi_py_components Interpreter Development.Module)
if(KIWI_IPC_PYTHON_ABI3 AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.26)
  list(APPEND _kiwi_py_components Development.SABIModule)
endif()
find_package(Python3 REQUIRED COMPONENTS ${_kiwi_py_components})

# Generated code does not get kiwi_ipc_warnings (nor its -Werror).
if(NOT KIWI_IPC_PYTHON_ABI3)
  Python3_add_library(kiwi_ipc_python MODULE WITH_SOABI "${_kiwi_py_wrap}")
elseif(CMAKE_VERSION VERSION_GREATER_EQUAL 3.26)
  # Defines Py_LIMITED_API=0x03090000 and names the module *.abi3.so.
  Python3_add_library(kiwi_ipc_python MODULE USE_SABI 3.9 WITH_SOABI
    "${_kiwi_py_wrap}")
else()
  Python3_add_library(kiwi_ipc_python MODULE "${_kiwi_py_wrap}")
  target_compile_definitions(kiwi_ipc_python PRIVATE
    Py_LIMITED_API=0x03090000)
  set_target_properties(kiwi_ipc_python PROPERTIES
    SUFFIX ".abi3${CMAKE_SHARED_MODULE_SUFFIX}")
endif()
# The hand-written C behind the typemaps (bindings/python) and the C shared
# with the Lua binding (bindings/common), with the project's warnings. It
# must see the wrapper's Python headers and Py_LIMITED_API: the payload
# struct is shared between the two.
add_library(kiwi_ipc_python_support OBJECT
  "${_kiwi_py_here}/kiwi_ipc_py.c"
  "${_kiwi_py_here}/kiwi_ipc_py_pipe.c"
  "${PROJECT_SOURCE_DIR}/bindings/common/kiwi_ipc_bind.c")
target_include_directories(kiwi_ipc_python_support PUBLIC
  "${_kiwi_py_here}"
  "${PROJECT_SOURCE_DIR}/bindings/common")
target_link_libraries(kiwi_ipc_python_support PRIVATE
  Python3::Module kiwi_ipc_static kiwi_ipc_warnings)
if(KIWI_IPC_PYTHON_ABI3)
  target_compile_definitions(kiwi_ipc_python_support PRIVATE
    Py_LIMITED_API=0x03090000)
endif()
target_sources(kiwi_ipc_python PRIVATE
  $<TARGET_OBJECTS:kiwi_ipc_python_support>)
target_include_directories(kiwi_ipc_python PRIVATE
  "${_kiwi_py_here}"
  "${PROJECT_SOURCE_DIR}/bindings/common")

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

kiwi_ipc_python_package(kiwi_ipc_python_package "${_kiwi_py_pkg}"
  kiwi_ipc_python)

# For the tests: when the module above is not abi3, a second one that is
# (Py_LIMITED_API 3.9, as the wheel), with its own copy of the package in
# <build>/python-abi3, so that ctest runs the suite against both
# (tests_py/CMakeLists.txt: python_abi3_tests), and the limited-API code
# paths (copies before 3.11, the buffer protocol found at run time on 3.11+)
# are tested on every build. Not installed.
option(KIWI_IPC_PYTHON_TEST_ABI3
  "Also build an abi3 Python module in the build tree and test it" ON)
if(KIWI_IPC_PYTHON_TEST_ABI3 AND NOT KIWI_IPC_PYTHON_ABI3 AND
   NOT KIWI_IPC_SWIG_ABI3)
  message(STATUS "kiwi-ipc: no abi3 test module (python_abi3_tests): "
    ${KIWI_IPC_SWIG_ABI3_WHY})
endif()
if(KIWI_IPC_BUILD_TESTS AND BUILD_TESTING AND KIWI_IPC_PYTHON_TEST_ABI3
   AND NOT KIWI_IPC_PYTHON_ABI3 AND KIWI_IPC_SWIG_ABI3)
  set(KIWI_IPC_PYTHON_ABI3_DIR "${PROJECT_BINARY_DIR}/python-abi3" CACHE
    INTERNAL "Directory to put on PYTHONPATH to test the abi3 module")
  set(_kiwi_py3_pkg "${KIWI_IPC_PYTHON_ABI3_DIR}/kiwi_ipc")
  add_library(kiwi_ipc_python_abi3_support OBJECT
    "${_kiwi_py_here}/kiwi_ipc_py.c"
    "${_kiwi_py_here}/kiwi_ipc_py_pipe.c"
    "${PROJECT_SOURCE_DIR}/bindings/common/kiwi_ipc_bind.c")
  target_include_directories(kiwi_ipc_python_abi3_support PRIVATE
    "${_kiwi_py_here}"
    "${PROJECT_SOURCE_DIR}/bindings/common")
  target_link_libraries(kiwi_ipc_python_abi3_support PRIVATE
    Python3::Module kiwi_ipc_static kiwi_ipc_warnings)
  # By hand, as for older CMake above: the same thing on Linux and macOS.
  Python3_add_library(kiwi_ipc_python_abi3 MODULE "${_kiwi_py_wrap}"
    $<TARGET_OBJECTS:kiwi_ipc_python_abi3_support>)
  target_compile_definitions(kiwi_ipc_python_abi3_support PRIVATE
    Py_LIMITED_API=0x03090000)
  target_compile_definitions(kiwi_ipc_python_abi3 PRIVATE
    Py_LIMITED_API=0x03090000)
  target_include_directories(kiwi_ipc_python_abi3 PRIVATE
    "${_kiwi_py_here}"
    "${PROJECT_SOURCE_DIR}/bindings/common")
  target_link_libraries(kiwi_ipc_python_abi3 PRIVATE kiwi_ipc_static)
  if(NOT APPLE)
    target_link_options(kiwi_ipc_python_abi3 PRIVATE -Wl,--exclude-libs,ALL)
  endif()
  set_target_properties(kiwi_ipc_python_abi3 PROPERTIES
    OUTPUT_NAME _kiwi_ipc
    SUFFIX ".abi3${CMAKE_SHARED_MODULE_SUFFIX}"
    LIBRARY_OUTPUT_DIRECTORY "$<1:${_kiwi_py3_pkg}>")
  kiwi_ipc_python_package(kiwi_ipc_python_abi3_package "${_kiwi_py3_pkg}"
    kiwi_ipc_python_abi3)
else()
  unset(KIWI_IPC_PYTHON_ABI3_DIR CACHE)
endif()

# Install: the package (module + hand-written files) into a site-packages
# directory, component "python".
#
# KIWI_IPC_PYTHON_INSTALL_DIR is that directory. Its default is the chosen
# interpreter's own site-packages (Python3_SITEARCH) made relative to that
# interpreter's sys.prefix, e.g. lib/python3.11/site-packages: it follows
# CMAKE_INSTALL_PREFIX and `cmake --install --prefix`, so a staged or
# temporary install never writes into the interpreter behind your back, and
# installing with the interpreter's prefix (a venv, /usr, pyenv's version
# directory) lands exactly in its site-packages. An absolute value is used as
# is, e.g. -DKIWI_IPC_PYTHON_INSTALL_DIR=${Python3_SITEARCH}. Under
# scikit-build-core (pip, python -m build) the package goes into the wheel's
# platlib directory instead.
if(SKBUILD)
  set(_kiwi_py_install_dir "${SKBUILD_PLATLIB_DIR}")
else()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c "import sys; print(sys.prefix)"
    OUTPUT_VARIABLE _kiwi_py_prefix OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(_kiwi_py_default "${Python3_SITEARCH}")
  if(_kiwi_py_prefix)
    file(RELATIVE_PATH _kiwi_py_rel "${_kiwi_py_prefix}" "${Python3_SITEARCH}")
    if(NOT _kiwi_py_rel MATCHES "^\\.\\.")
      set(_kiwi_py_default "${_kiwi_py_rel}")
    endif()
  endif()
  set(KIWI_IPC_PYTHON_INSTALL_DIR "${_kiwi_py_default}" CACHE STRING
    "site-packages directory to install the kiwi_ipc package into (relative: to the prefix)")
  set(_kiwi_py_install_dir "${KIWI_IPC_PYTHON_INSTALL_DIR}")
endif()
kiwi_ipc_python_install(kiwi_ipc_python "${_kiwi_py_install_dir}")
