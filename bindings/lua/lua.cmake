# lua.cmake - the Lua binding: one module per Lua found, Lua 5.4 and LuaJIT.
#
# Included by bindings/CMakeLists.txt when KIWI_IPC_BUILD_LUA is ON. A Lua whose
# development files pkg-config cannot find is skipped with a message.
#
# Each Lua gets its own directory in the build tree, holding the generated
# module and a copy of the Lua layer:
#
#   <build>/lua/5.4/kiwi_ipc_core.so  kiwi_ipc.lua      (Lua 5.4)
#   <build>/lua/jit/kiwi_ipc_core.so  kiwi_ipc.lua      (LuaJIT)
#
# so that a script finds `require "kiwi_ipc"` with, for example:
#
#   LUA_PATH="<build>/lua/5.4/?.lua;;" LUA_CPATH="<build>/lua/5.4/?.so;;" \
#     lua5.4 -e 'print(require("kiwi_ipc").version)'
#
# tests_lua/ finds what was built through global properties:
#   KIWI_IPC_LUA_FLAVOURS          the tags built, e.g. "54;jit"
#   KIWI_IPC_LUA_<tag>_DIR         the module directory above
#   KIWI_IPC_LUA_<tag>_INTERPRETER the interpreter, or empty if not found

find_package(PkgConfig QUIET)
include(GNUInstallDirs)

# One wrapper serves every Lua: SWIG's Lua output adapts to the Lua version
# when it is compiled. SWIG runs from a custom command rather than
# swig_add_library(), because UseSWIG takes flags and module names from
# properties of the .i source file, and that file is shared with the Python
# binding.
set(_kiwi_lua_gen_dir ${CMAKE_CURRENT_BINARY_DIR}/lua)
set(_kiwi_lua_wrapper ${_kiwi_lua_gen_dir}/kiwi_ipcLUA_wrap.c)
set(_kiwi_lua_swig_deps ${KIWI_IPC_SWIG_DEPENDS}
  ${CMAKE_CURRENT_LIST_DIR}/lua_typemaps.i
  ${CMAKE_CURRENT_LIST_DIR}/kiwi_ipc_lua.h)
add_custom_command(
  OUTPUT ${_kiwi_lua_wrapper}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_kiwi_lua_gen_dir}
  COMMAND ${SWIG_EXECUTABLE} -lua -nomoduleglobal -module kiwi_ipc_core
          -I${CMAKE_CURRENT_LIST_DIR} -I${PROJECT_SOURCE_DIR}/libipc/include
          -o ${_kiwi_lua_wrapper} ${KIWI_IPC_SWIG_INTERFACE}
  DEPENDS ${_kiwi_lua_swig_deps}
  COMMENT "Generating the Lua wrapper kiwi_ipc_core with SWIG"
  VERBATIM)
# Both modules compile the same generated file; one target owns the rule.
add_custom_target(kiwi_ipc_lua_wrapper DEPENDS ${_kiwi_lua_wrapper})

set(_kiwi_lua_layer ${PROJECT_SOURCE_DIR}/bindings/lua/kiwi_ipc.lua)
set_property(GLOBAL PROPERTY KIWI_IPC_LUA_FLAVOURS "")

# Install (component "lua"): each Lua's kiwi_ipc_core.so and kiwi_ipc.lua go
# into that Lua's module directories, prefix-relative like Debian's and
# LuaRocks' layouts, each overridable:
#   KIWI_IPC_LUA_54_CMOD_DIR   <libdir>/lua/5.4     KIWI_IPC_LUA_54_LMOD_DIR   share/lua/5.4
#   KIWI_IPC_LUA_jit_CMOD_DIR  <libdir>/lua/5.1     KIWI_IPC_LUA_jit_LMOD_DIR  share/lua/5.1
# Every Lua built is installed, unless KIWI_IPC_LUA_INSTALL_FOR names an
# interpreter: then only the module for that Lua is (the rockspec passes
# LuaRocks' $(LUA), since a rock tree is for one Lua), and configuring fails
# if that module could not be built.
set(KIWI_IPC_LUA_INSTALL_FOR "" CACHE STRING
  "Install only the Lua module for this Lua interpreter (default: every Lua built)")
set(_kiwi_lua_install_only "")
if(KIWI_IPC_LUA_INSTALL_FOR)
  # "jit" for LuaJIT, else the Lua version: the names of the build dirs.
  execute_process(
    COMMAND ${KIWI_IPC_LUA_INSTALL_FOR} -e
            "io.write(jit and 'jit' or _VERSION:match('%d+%.%d+'))"
    OUTPUT_VARIABLE _kiwi_lua_install_only
    RESULT_VARIABLE _kiwi_lua_rc)
  if(NOT _kiwi_lua_rc EQUAL 0 OR NOT _kiwi_lua_install_only)
    message(FATAL_ERROR "kiwi-ipc: KIWI_IPC_LUA_INSTALL_FOR: cannot run "
      "${KIWI_IPC_LUA_INSTALL_FOR} to ask its Lua version")
  endif()
endif()

# _kiwi_ipc_add_lua(TAG DIR ABI LABEL [VERSION_PREFIX re] PACKAGES...
#                   INTERPRETERS...)
#   TAG  names targets and tests (54, jit); DIR the build-tree directory
#   (5.4, jit); ABI the install directory's version (5.4; 5.1 for LuaJIT);
#   LABEL what messages call it.
function(_kiwi_ipc_add_lua tag dir abi label)
  cmake_parse_arguments(PARSE_ARGV 4 arg "" "VERSION_PREFIX"
                        "PACKAGES;INTERPRETERS")
  string(REPLACE ";" ", " packages "${arg_PACKAGES}")
  set(what "${label} (pkg-config ${packages})")
  if(NOT PKG_CONFIG_FOUND)
    message(STATUS "kiwi-ipc: skipping ${what}: pkg-config not found")
    return()
  endif()
  pkg_search_module(KIWI_IPC_LUA_${tag} QUIET ${arg_PACKAGES})
  if(NOT KIWI_IPC_LUA_${tag}_FOUND)
    message(STATUS "kiwi-ipc: skipping ${what}: not installed")
    return()
  endif()
  set(version ${KIWI_IPC_LUA_${tag}_VERSION})
  if(arg_VERSION_PREFIX AND NOT version MATCHES "^${arg_VERSION_PREFIX}")
    message(STATUS "kiwi-ipc: skipping ${what}: found version ${version}")
    return()
  endif()
  set(includes ${KIWI_IPC_LUA_${tag}_INCLUDE_DIRS})
  find_program(KIWI_IPC_LUA_${tag}_INTERPRETER NAMES ${arg_INTERPRETERS}
               DOC "Interpreter that runs the ${label} tests")
  message(STATUS "kiwi-ipc: building the ${label} module (${version}),"
                 " interpreter: ${KIWI_IPC_LUA_${tag}_INTERPRETER}")
  _kiwi_ipc_lua_module(${tag} ${dir} ${abi} "${label}" "${includes}" ""
                       "${KIWI_IPC_LUA_${tag}_INTERPRETER}")
endfunction()

# _kiwi_ipc_lua_module(TAG DIR ABI LABEL INCLUDES LINK INTERPRETER): the
# module of one Lua, with its headers INCLUDES; LINK is what the module
# links for the Lua API (nothing on POSIX, where the interpreter that loads
# the module provides it; lua54.dll on Windows, where a DLL's imports must
# be resolved when it is linked).
function(_kiwi_ipc_lua_module tag dir abi label includes link interpreter)
  set(out ${PROJECT_BINARY_DIR}/lua/${dir})

  # The hand-written C behind the typemaps, with the project's warnings;
  # the generated wrapper is compiled without them.
  # With it, the C shared with the Python binding (bindings/common).
  # The OS's part of it (kiwi_ipc_lua_os.h) is one file per OS.
  if(WIN32)
    set(os_part ${PROJECT_SOURCE_DIR}/bindings/lua/kiwi_ipc_lua_win32.c)
  else()
    set(os_part ${PROJECT_SOURCE_DIR}/bindings/lua/kiwi_ipc_lua_posix.c)
  endif()
  add_library(kiwi_ipc_lua${tag}_support OBJECT
    ${PROJECT_SOURCE_DIR}/bindings/lua/kiwi_ipc_lua.c ${os_part}
    ${PROJECT_SOURCE_DIR}/bindings/common/kiwi_ipc_bind.c)
  target_include_directories(kiwi_ipc_lua${tag}_support PRIVATE ${includes}
    ${PROJECT_SOURCE_DIR}/bindings/common)
  target_link_libraries(kiwi_ipc_lua${tag}_support PRIVATE
    kiwi_ipc_static kiwi_ipc_warnings)

  # The Lua layer's copy is a source so that its rule goes with the module.
  add_custom_command(
    OUTPUT ${out}/kiwi_ipc.lua
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${_kiwi_lua_layer}
            ${out}/kiwi_ipc.lua
    DEPENDS ${_kiwi_lua_layer}
    COMMENT "Copying kiwi_ipc.lua for ${label}"
    VERBATIM)

  add_library(kiwi_ipc_lua${tag} MODULE
    ${_kiwi_lua_wrapper}
    $<TARGET_OBJECTS:kiwi_ipc_lua${tag}_support>
    ${out}/kiwi_ipc.lua)
  add_dependencies(kiwi_ipc_lua${tag} kiwi_ipc_lua_wrapper)
  target_include_directories(kiwi_ipc_lua${tag} PRIVATE
    ${includes} ${PROJECT_SOURCE_DIR}/bindings/lua)
  # Static: the module then needs no rpath. On POSIX not linked against Lua
  # itself: the interpreter that loads the module provides the Lua API.
  # CMAKE_DL_LIBS: dladdr/dlopen, which pin the module (kiwi_ipc_lua_posix.c),
  # are in libdl before glibc 2.34.
  target_link_libraries(kiwi_ipc_lua${tag} PRIVATE kiwi_ipc_static ${link}
    ${CMAKE_DL_LIBS})
  set_target_properties(kiwi_ipc_lua${tag} PROPERTIES
    PREFIX ""
    OUTPUT_NAME kiwi_ipc_core
    LIBRARY_OUTPUT_DIRECTORY $<1:${out}>) # no per-configuration subdir
  if(APPLE)
    set_target_properties(kiwi_ipc_lua${tag} PROPERTIES SUFFIX ".so")
    target_link_options(kiwi_ipc_lua${tag} PRIVATE
      -undefined dynamic_lookup)
  else()
    # Export luaopen_kiwi_ipc_core only: the library's ipc_* functions stay
    # private to the module, whatever else the process has loaded.
    target_link_options(kiwi_ipc_lua${tag} PRIVATE -Wl,--exclude-libs,ALL)
  endif()

  # For the tests only (not installed): kiwi_test_threads, which runs Lua
  # chunks on threads of their own (tests_lua/lua_threads.c), next to the
  # module so that the specs' LUA_CPATH finds it. Wherever the Lua specs are
  # registered (BUILD_TESTING), also without the C tests (the ASan build of
  # the bindings in scripts/run-reliability).
  # (POSIX threads: not built for Windows, where overlap_spec.lua skips.)
  if(BUILD_TESTING AND NOT WIN32)
    find_package(Threads REQUIRED)
    add_library(kiwi_test_threads${tag} MODULE
      ${PROJECT_SOURCE_DIR}/tests_lua/lua_threads.c)
    target_include_directories(kiwi_test_threads${tag} PRIVATE ${includes})
    target_link_libraries(kiwi_test_threads${tag} PRIVATE
      kiwi_ipc_warnings Threads::Threads)
    set_target_properties(kiwi_test_threads${tag} PROPERTIES
      PREFIX ""
      OUTPUT_NAME kiwi_test_threads
      LIBRARY_OUTPUT_DIRECTORY $<1:${out}>)
    if(APPLE)
      set_target_properties(kiwi_test_threads${tag} PROPERTIES SUFFIX ".so")
      target_link_options(kiwi_test_threads${tag} PRIVATE
        -undefined dynamic_lookup)
    endif()
  endif()

  set(KIWI_IPC_LUA_${tag}_CMOD_DIR ${CMAKE_INSTALL_LIBDIR}/lua/${abi}
      CACHE STRING "Where to install the ${label} C module")
  set(KIWI_IPC_LUA_${tag}_LMOD_DIR ${CMAKE_INSTALL_DATADIR}/lua/${abi}
      CACHE STRING "Where to install kiwi_ipc.lua for ${label}")
  if(NOT _kiwi_lua_install_only OR _kiwi_lua_install_only STREQUAL dir)
    install(TARGETS kiwi_ipc_lua${tag}
      LIBRARY DESTINATION ${KIWI_IPC_LUA_${tag}_CMOD_DIR} COMPONENT lua)
    install(FILES ${_kiwi_lua_layer}
      DESTINATION ${KIWI_IPC_LUA_${tag}_LMOD_DIR} COMPONENT lua)
    set_property(GLOBAL APPEND PROPERTY KIWI_IPC_LUA_INSTALLED ${tag})
  endif()

  set_property(GLOBAL APPEND PROPERTY KIWI_IPC_LUA_FLAVOURS ${tag})
  set_property(GLOBAL PROPERTY KIWI_IPC_LUA_${tag}_DIR ${out})
  set_property(GLOBAL PROPERTY KIWI_IPC_LUA_${tag}_INTERPRETER
    "${interpreter}")
endfunction()

if(WIN32)
  # Cross-built for Windows (mingw-w64): Lua 5.4 for Windows as
  # scripts/fetch-windows-deps lua builds it (lua.exe, lua54.dll,
  # include/); pkg-config knows no Windows Lua. The module is
  # <build>/lua/5.4/kiwi_ipc_core.dll, linked against lua54.dll:
  #   LUA_CPATH=<build>/lua/5.4/?.dll  LUA_PATH=<build>/lua/5.4/?.lua
  include(${CMAKE_CURRENT_LIST_DIR}/windows-lua.cmake)
  message(STATUS "kiwi-ipc: building the Lua 5.4 module for Windows "
                 "against ${KIWI_IPC_WIN_LUA_DIR}/lua54.dll")
  _kiwi_ipc_lua_module(54 5.4 5.4 "Lua 5.4 for Windows"
    "${KIWI_IPC_WIN_LUA_DIR}/include" "${KIWI_IPC_WIN_LUA_DIR}/lua54.dll"
    "${KIWI_IPC_WIN_LUA_DIR}/lua.exe")
  return()
endif()

_kiwi_ipc_add_lua(54 5.4 5.4 "Lua 5.4" VERSION_PREFIX "5\\.4"
  PACKAGES lua5.4 lua-5.4 lua54
  INTERPRETERS lua5.4 lua54)
_kiwi_ipc_add_lua(jit jit 5.1 "LuaJIT"
  PACKAGES luajit
  INTERPRETERS luajit)

if(_kiwi_lua_install_only)
  get_property(_kiwi_lua_installed GLOBAL PROPERTY KIWI_IPC_LUA_INSTALLED)
  if(NOT _kiwi_lua_installed)
    message(FATAL_ERROR "kiwi-ipc: KIWI_IPC_LUA_INSTALL_FOR is "
      "${KIWI_IPC_LUA_INSTALL_FOR} (Lua ${_kiwi_lua_install_only}), but no "
      "module for that Lua was built (see the messages above)")
  endif()
endif()
