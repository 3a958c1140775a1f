# bosh_add_plugin(<target> SOURCES ... [LIBRARIES ...] [OUTPUT_DIRECTORY dir])
# Shared by the in-tree build and the installed BoshPluginApi package.
set_property(GLOBAL PROPERTY BOSH_PLUGIN_HELPERS_DIR ${CMAKE_CURRENT_LIST_DIR})

function(bosh_add_plugin target)
  cmake_parse_arguments(P "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  get_property(_BOSH_PLUGIN_HELPERS_DIR GLOBAL PROPERTY BOSH_PLUGIN_HELPERS_DIR)
  add_library(${target} MODULE ${P_SOURCES})
  if(TARGET BoshPluginApi::plugin_api)
    target_link_libraries(${target} PRIVATE BoshPluginApi::plugin_api)
  else()
    target_link_libraries(${target} PRIVATE bosh::plugin_api)
  endif()
  target_link_libraries(${target} PRIVATE ${P_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # Static archives linked in stay private; no undefined symbols at link time;
  # only the aliases are exported (std:: template instantiations would
  # otherwise leak out with default visibility).
  target_link_options(${target} PRIVATE -Wl,--exclude-libs,ALL -Wl,-z,defs
                      -Wl,--version-script=${_BOSH_PLUGIN_HELPERS_DIR}/bosh_plugin_exports.map)
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${_BOSH_PLUGIN_HELPERS_DIR}/bosh_plugin_exports.map)
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY})
  endif()
  set_property(GLOBAL APPEND PROPERTY BOSH_PLUGIN_TARGETS ${target})
endfunction()
