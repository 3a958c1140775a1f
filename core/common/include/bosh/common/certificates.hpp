// What a PEM certificate says about itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace bosh {

// The certificate's notAfter as unix seconds; nullopt when `pem` holds no
// readable certificate.
std::optional<std::int64_t> certificate_not_after(const std::string& pem);

}  // namespace bosh
