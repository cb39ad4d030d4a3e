# cmake/mingw-w64.cmake - cross-build kiwi-ipc for 64-bit Windows with
# Debian's mingw-w64 (gcc-mingw-w64-x86-64), and run what it builds
# (ctest) under wine:
#   cmake -S . -B build-windows --toolchain cmake/mingw-w64.cmake
# scripts/run-windows does this, with the prerequisites of
# scripts/fetch-windows-deps.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_mingw x86_64-w64-mingw32)
# The -win32 compilers use Windows threads for gcc's own runtime, so what
# we build needs no libwinpthread-1.dll.
find_program(CMAKE_C_COMPILER NAMES ${_mingw}-gcc-win32 ${_mingw}-gcc REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${_mingw}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${_mingw})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs the .exe files under wine.
find_program(KIWI_IPC_WINE NAMES wine wine64)
if(KIWI_IPC_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KIWI_IPC_WINE})
endif()

# libgcc is linked in statically: a test .exe or kiwi_ipc.dll then needs
# only system DLLs (the C runtime is msvcrt.dll).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc")
