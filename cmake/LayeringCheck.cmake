# Configure-time check of the one-way dependency rule (../DESIGN.md):
#  - plugin_api headers include nothing from core/ or third-party libraries
#    other than Boost.DLL's alias header and POCO's Dynamic::Var (the Json alias);
#  - in-tree plugins never link the director or the CLI.
file(GLOB_RECURSE _api_headers ${PROJECT_SOURCE_DIR}/plugin_api/include/*.hpp)
foreach(_h IN LISTS _api_headers)
  file(STRINGS ${_h} _incs REGEX "^#include")
  foreach(_i IN LISTS _incs)
    if(_i MATCHES "bosh/(common|net|plugin_host|cli|director|release|mbus|blobstore|monitor|registry)/"
       OR _i MATCHES "(fmt/|yaml-cpp/|boost/program_options)")
      message(FATAL_ERROR "layering: ${_h} includes ${_i}; plugin_api may only use std, the Json alias and Boost.DLL's alias macro")
    endif()
  endforeach()
endforeach()

get_property(_plugin_targets GLOBAL PROPERTY BOSH_PLUGIN_TARGETS)
foreach(_t IN LISTS _plugin_targets)
  get_target_property(_libs ${_t} LINK_LIBRARIES)
  foreach(_l IN LISTS _libs)
    if(_l MATCHES "bosh(_|::)(cli|director|plugin_host)")
      message(FATAL_ERROR "layering: plugin ${_t} links ${_l}; plugins may link only plugin_api and bosh::common")
    endif()
  endforeach()
endforeach()
