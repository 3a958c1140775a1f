# bosh_module(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A folder is a module: core/<name>/include is its face, core/<name>/src private.
# Creates the static library bosh_<name> and the alias bosh::<name>.
function(bosh_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(bosh_${name} STATIC ${M_SOURCES})
  add_library(bosh::${name} ALIAS bosh_${name})
  target_include_directories(bosh_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                          PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(bosh_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
endfunction()

# bosh_test_executable(<target> SOURCES ... DEPS ...): a doctest executable whose
# TEST_SUITE names become CTest labels (unit, integration, e2e).
function(bosh_test_executable target)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${target} ${T_SOURCES})
  if(NOT TARGET bosh_all_tests)
    add_custom_target(bosh_all_tests)  # every test executable: the ASan preset builds this
  endif()
  add_dependencies(bosh_all_tests ${target})
  target_link_libraries(${target} PRIVATE ${T_DEPS} doctest::doctest)
  target_compile_definitions(${target} PRIVATE
    BOSH_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}"
    BOSH_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  doctest_discover_tests(${target} ADD_LABELS 1
    PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
endfunction()
