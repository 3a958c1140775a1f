execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BUILD_DIR} -N -LE "^(unit|integration|e2e|compat)$"
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
string(REGEX MATCH "Total Tests: ([0-9]+)" _ "${out}")
if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1 STREQUAL "0")
  message(FATAL_ERROR "tests without a tier label (unit, integration, e2e or compat):\n${out}")
endif()
