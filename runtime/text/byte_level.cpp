// GPT-2 byte <-> unicode map; see byte_level.h.
#include "runtime/text/byte_level.h"

#include <array>

#include "runtime/text/utf8.h"

namespace latte::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> to_cp{};
  std::array<int16_t, 0x144> from_cp{};  // code points < U+0144 only
  std::array<std::string, 256> utf8;
  Tables() {
    from_cp.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = keep ? char32_t(b) : next++;
    }
    for (int b = 0; b < 256; ++b) {
      from_cp[to_cp[b]] = int16_t(b);
      utf8[b] = utf8::encode(to_cp[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;  // immutable after construction (thread-safe static init)
  return t;
}

}  // namespace

char32_t byte_to_cp(uint8_t b) { return tables().to_cp[b]; }

int cp_to_byte(char32_t cp) { return cp < 0x144 ? tables().from_cp[cp] : -1; }

std::string_view byte_to_utf8(uint8_t b) { return tables().utf8[b]; }

std::string encode(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.utf8[uint8_t(c)];
  return out;
}

std::string decode(std::string_view text, bool* ok) {
  std::string out;
  out.reserve(text.size());
  bool all = true;
  for (size_t i = 0; i < text.size();) {
    int len;
    char32_t cp = utf8::decode(text, i, len);
    int b = (len == 1 && cp == utf8::kReplacement) ? -1 : cp_to_byte(cp);
    if (b >= 0) {
      out.push_back(char(b));
    } else {
      out.append(text.data() + i, len);
      all = false;
    }
    i += len;
  }
  if (ok) *ok = all;
  return out;
}

}  // namespace latte::byte_level
