# windows-python.cmake - the Python binding cross-built for Windows:
# an abi3 extension, kiwi_ipc/_kiwi_ipc.pyd, linked against python3.dll
# (the stable ABI's DLL, so one .pyd serves every CPython >= 3.9 for x64).
# python.cmake includes this, after the SWIG run both share, instead of
# its POSIX rules when WIN32: FindPython cannot find a Windows CPython from
# Linux.
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

# With the hand-written C behind the typemaps (bindings/python) and the C
# shared with the Lua binding (bindings/common), as python.cmake has.
add_library(kiwi_ipc_python MODULE "${_kiwi_py_wrap}"
  "${_kiwi_py_here}/kiwi_ipc_py.c"
  "${_kiwi_py_here}/kiwi_ipc_py_pipe.c"
  "${PROJECT_SOURCE_DIR}/bindings/common/kiwi_ipc_bind.c")
target_include_directories(kiwi_ipc_python PRIVATE
  "${KIWI_IPC_WIN_PYTHON_DIR}/include"
  "${_kiwi_py_here}"
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

kiwi_ipc_python_package(kiwi_ipc_python_package "${_kiwi_py_pkg}"
  kiwi_ipc_python)

# The wheel for Windows (scripts/build-wheels, scikit-build-core with the
# mingw-w64 toolchain): the package in its platlib directory, as on POSIX.
# Other Windows builds install no Python package: there is no Windows
# CPython to find from Linux, and so no site-packages to put it in.
if(SKBUILD)
  kiwi_ipc_python_install(kiwi_ipc_python "${SKBUILD_PLATLIB_DIR}")
endif()
