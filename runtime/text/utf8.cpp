// UTF-8 helpers; see utf8.h. Also implements latte::Utf8Stream (declared in tokenizer.h).
#include "runtime/text/utf8.h"

#include "runtime/text/tokenizer.h"

namespace latte::utf8 {

int sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;  // continuation byte, C0/C1 (overlong) or F5..FF
}

// Valid range of the second byte for a given lead byte (excludes overlongs, surrogates, > U+10FFFF).
static bool second_ok(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

char32_t decode(std::string_view s, size_t i, int& len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  uint8_t b0 = p[i];
  int L = sequence_length(b0);
  len = 1;
  if (L == 1) return b0;
  if (L == 0 || i + L > n) return kReplacement;
  if (!second_ok(b0, p[i + 1])) return kReplacement;
  for (int k = 2; k < L; ++k)
    if ((p[i + k] & 0xC0) != 0x80) return kReplacement;
  char32_t cp;
  if (L == 2) cp = (char32_t(b0 & 0x1F) << 6) | (p[i + 1] & 0x3F);
  else if (L == 3) cp = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
  else
    cp = (char32_t(b0 & 0x07) << 18) | (char32_t(p[i + 1] & 0x3F) << 12) | (char32_t(p[i + 2] & 0x3F) << 6) |
         (p[i + 3] & 0x3F);
  len = L;
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string encode(char32_t cp) {
  std::string s;
  append(s, cp);
  return s;
}

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    int len;
    char32_t cp = decode(s, i, len);
    if (cp == kReplacement && len == 1) return false;  // a literal U+FFFD decodes with len 3
    i += len;
  }
  return true;
}

std::string sanitize(std::string_view s) {
  // Fast path: pure ASCII / already valid text is copied as is.
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto b = uint8_t(s[i]);
    if (b < 0x80) {
      out.push_back(char(b));
      ++i;
      continue;
    }
    int len;
    char32_t cp = decode(s, i, len);
    if (cp == kReplacement && len == 1) {
      append(out, kReplacement);
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  return out;
}

size_t incomplete_tail(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    uint8_t b = p[n - back];
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    int L = sequence_length(b);
    if (L <= 1 || size_t(L) <= back) return 0;  // ASCII, invalid lead, or complete sequence
    // Check the bytes we have are a valid prefix.
    if (back >= 2 && !second_ok(b, p[n - back + 1])) return 0;
    return back;
  }
  return 0;
}

}  // namespace latte::utf8

namespace latte {

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes.data(), bytes.size());
  size_t tail = utf8::incomplete_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - tail);
  pending_.erase(0, pending_.size() - tail);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace latte
