// The front door of every bosh plugin.
//
// A plugin is a shared object exporting, through BOOST_DLL_ALIAS:
//   bosh_plugin_info   -> const PluginInfo* () noexcept   (always)
//   bosh_create_<kind> -> the typed factory of its kind   (cpi | blobstore | cli)
//
// The host reads PluginInfo before anything else. It is a C-layout struct of
// uint32_t and const char* only, so it can be read safely even from a plugin
// built with a foreign toolchain; only after it validates does the host import
// and call the typed factory (Boost.DLL does not check signatures: the info
// check is what makes that cast safe).
//
// Plugin authors write one line:
//   BOSH_PLUGIN(cpi, "aws", "1.4.0", &make_aws_cpi)
#pragma once

#include <cstdint>
#include <string>

#include <Poco/Version.h>
#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

// The plugin API version. The host accepts a plugin when
//   plugin.major == host.major && plugin.minor <= host.minor.
// New virtual functions are only ever appended to an interface (minor bump);
// anything else is a major bump.
#define BOSH_PLUGIN_API_MAJOR 1
#define BOSH_PLUGIN_API_MINOR 0

#define BOSH_PLUGIN_STR_(x) #x
#define BOSH_PLUGIN_STR(x) BOSH_PLUGIN_STR_(x)

// The ABI tag: the layout-relevant facts of the compile that built the plugin.
// C++ objects (std::string, std::function, Poco::Dynamic::Var) cross the
// boundary, so host and plugin must agree on the standard library family, its
// dual-ABI switch, debug-container mode, and POCO's major.minor.
#if defined(_LIBCPP_VERSION)
#define BOSH_PLUGIN_ABI_STDLIB "libc++"
#elif defined(__GLIBCXX__)
#define BOSH_PLUGIN_ABI_STDLIB "libstdc++"
#else
#define BOSH_PLUGIN_ABI_STDLIB "unknown-stdlib"
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
#define BOSH_PLUGIN_ABI_CXX11 BOSH_PLUGIN_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define BOSH_PLUGIN_ABI_CXX11 "n/a"
#endif
#if defined(_GLIBCXX_DEBUG) || defined(_LIBCPP_DEBUG)
#define BOSH_PLUGIN_ABI_DEBUG "1"
#else
#define BOSH_PLUGIN_ABI_DEBUG "0"
#endif
#define BOSH_PLUGIN_ABI_POCO_MAJOR ((POCO_VERSION >> 24) & 0xFF)
#define BOSH_PLUGIN_ABI_POCO_MINOR ((POCO_VERSION >> 16) & 0xFF)

namespace bosh::plugin::detail {
// POCO_VERSION is a hex number (0x010B0000 for 1.11.0); render major.minor.
constexpr char digit(unsigned v) { return static_cast<char>('0' + v); }
struct PocoTag {
  char text[8];
};
constexpr PocoTag poco_tag(unsigned major, unsigned minor) {
  PocoTag t{};
  unsigned i = 0;
  if (major >= 10) t.text[i++] = digit(major / 10);
  t.text[i++] = digit(major % 10);
  t.text[i++] = '.';
  if (minor >= 10) t.text[i++] = digit(minor / 10);
  t.text[i++] = digit(minor % 10);
  t.text[i] = '\0';
  return t;
}
}  // namespace bosh::plugin::detail

#define BOSH_PLUGIN_ABI_PREFIX \
  BOSH_PLUGIN_ABI_STDLIB ";cxx11abi=" BOSH_PLUGIN_ABI_CXX11 ";debug=" BOSH_PLUGIN_ABI_DEBUG ";poco="

#if defined(__clang__)
#define BOSH_PLUGIN_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define BOSH_PLUGIN_COMPILER "gcc " __VERSION__
#else
#define BOSH_PLUGIN_COMPILER "unknown compiler"
#endif

namespace bosh::plugin {

// C layout: uint32_t and const char* only. Fields are only ever appended;
// struct_size tells the host which ones a plugin has.
extern "C" struct PluginInfo {
  std::uint32_t struct_size;
  std::uint32_t api_major;
  std::uint32_t api_minor;
  const char* abi_tag;      // see abi_tag() below
  const char* kind;         // "cpi" | "blobstore" | "cli"
  const char* name;         // unique per kind: "aws", "local", "micro"
  const char* version;      // the plugin's own version
  const char* description;  // one line, may be ""
  const char* compiler;     // logged, not checked
};

// The ABI tag of the current compile, e.g. "libstdc++;cxx11abi=1;debug=0;poco=1.11".
// The host compares it with its own, byte for byte.
inline const char* abi_tag() noexcept {
  static constexpr auto poco =
      detail::poco_tag(BOSH_PLUGIN_ABI_POCO_MAJOR, BOSH_PLUGIN_ABI_POCO_MINOR);
  static const std::string tag = std::string(BOSH_PLUGIN_ABI_PREFIX) + poco.text;
  return tag.c_str();
}

inline constexpr const char* kInfoSymbol = "bosh_plugin_info";
inline constexpr const char* kCpiFactorySymbol = "bosh_create_cpi";
inline constexpr const char* kBlobstoreFactorySymbol = "bosh_create_blobstore";
inline constexpr const char* kCliFactorySymbol = "bosh_create_cli";

using InfoFunction = const PluginInfo*() noexcept;

}  // namespace bosh::plugin

// BOSH_PLUGIN(kind, name, version, factory) and
// BOSH_PLUGIN_DESCRIBED(kind, name, version, description, factory):
// kind is the bare word cpi, blobstore or cli; factory is a function of the
// kind's factory type (cpi.hpp, blobstore.hpp, cli.hpp). Include the kind's
// header before using the macro. One BOSH_PLUGIN per shared object.
#define BOSH_PLUGIN_DESCRIBED(kind, plugin_name, plugin_version, plugin_description, factory) \
  namespace bosh_plugin_entry {                                                              \
  inline const ::bosh::plugin::PluginInfo* info() noexcept {                                 \
    static const ::bosh::plugin::PluginInfo value{                                           \
        sizeof(::bosh::plugin::PluginInfo), BOSH_PLUGIN_API_MAJOR, BOSH_PLUGIN_API_MINOR,    \
        ::bosh::plugin::abi_tag(), #kind, plugin_name, plugin_version, plugin_description,   \
        BOSH_PLUGIN_COMPILER};                                                               \
    return &value;                                                                           \
  }                                                                                          \
  inline constexpr ::bosh::plugin::kind##_factory_t* kind##_factory = factory;               \
  }                                                                                          \
  BOOST_DLL_ALIAS(bosh_plugin_entry::info, bosh_plugin_info)                                 \
  BOOST_DLL_ALIAS(bosh_plugin_entry::kind##_factory, bosh_create_##kind)

#define BOSH_PLUGIN(kind, plugin_name, plugin_version, factory) \
  BOSH_PLUGIN_DESCRIBED(kind, plugin_name, plugin_version, "", factory)
