// UTF-8 at the edges: text that came from outside (a manifest, a tarball's
// entry names, a subprocess's output) is checked or mended before it reaches
// the database or a JSON answer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bosh {

// Length of the well-formed UTF-8 sequence starting at text[at] (1..4), or 0
// when the bytes there are not one (overlong forms and surrogates are not).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

// The byte offset of the first byte that is not well-formed UTF-8, or nullopt.
std::optional<std::size_t> utf8_error_offset(std::string_view text);

inline bool is_utf8(std::string_view text) { return !utf8_error_offset(text); }

// Every ill-formed byte replaced with U+FFFD; well-formed text comes back as it was.
std::string mend_utf8(std::string_view text);

}  // namespace bosh
