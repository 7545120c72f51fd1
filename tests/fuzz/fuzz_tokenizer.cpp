// libFuzzer target: tokenizer encode + decode on arbitrary bytes with the real DeepSeek-V3 vocabulary.
// Invariants: never crash; every id is inside the vocabulary; for valid UTF-8 input without special-token text,
// decode(encode(x)) == x. Ids decoded from raw input bytes must decode or throw latte::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/text/tokenizer.h"

namespace {
const latte::Tokenizer& tokenizer() {
  static std::shared_ptr<const latte::gguf::File> file;
  static std::unique_ptr<latte::Tokenizer> tok;
  if (!tok) {
    const char* env = std::getenv("LATTE_FUZZ_VOCAB");
    std::string path = env ? env : LATTE_SHARED_DIR "/models/deepseek-v3-vocab.gguf";
    file = latte::gguf::File::open(path);
    tok = latte::Tokenizer::from_gguf(*file);
  }
  return *tok;
}

bool valid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  std::string text(reinterpret_cast<const char*>(data), size);
  auto ids = tok.encode(text, /*add_bos=*/false, /*parse_special=*/false);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
  if (valid_utf8(data, size)) {
    std::string back = tok.decode(ids);
    if (back != text) __builtin_trap();
  }
  // Arbitrary ids: decode must either work or throw a latte::Error.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 3 < size && raw.size() < 64; i += 4) {
    int32_t v;
    __builtin_memcpy(&v, data + i, 4);
    raw.push_back(v);
  }
  try {
    latte::Utf8Stream st;
    for (int32_t id : raw) (void)st.push(tok.token_bytes(id));
    (void)st.flush();
  } catch (const latte::Error&) {
  }
  return 0;
}
