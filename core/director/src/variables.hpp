// Variables the director generates and keeps per deployment (BOSH's
// config-server types): password, certificate, rsa, ssh.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bosh/director/manifest.hpp"

namespace bosh::director {

// The value of one variable: a string (password) or an object
// (certificate: {ca, certificate, private_key}; rsa: {private_key,
// public_key}; ssh: {private_key, public_key, public_key_fingerprint}).
// `known` holds the variables already made (a certificate's CA among them).
plugin::Json generate_variable(const VariableDef& def, const std::map<std::string, plugin::Json>& known);

// The definitions in an order that makes each certificate's CA first.
std::vector<VariableDef> in_generation_order(const std::vector<VariableDef>& defs);

}  // namespace bosh::director
