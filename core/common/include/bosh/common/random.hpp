// Random identifiers: version-4 UUIDs (blob ids, agent ids, cids, director
// uuid) and hex tokens (reply subjects, temp names, CSRF tokens).
#pragma once

#include <string>

namespace bosh {

// "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx", from a per-thread generator
// seeded by std::random_device.
std::string random_uuid();
// `digits` lowercase hex digits (1..64).
std::string random_hex(int digits = 16);

}  // namespace bosh
