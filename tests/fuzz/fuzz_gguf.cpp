// libFuzzer target: the GGUF parser must reject any malformed image with a latte::Error — never crash, hang or
// read out of bounds (built with ASan + UBSan). Seed corpus: tests/fuzz/corpus/gguf (small valid files).
#include <cstddef>
#include <cstdint>

#include "formats/gguf.h"
#include "formats/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = latte::gguf::File::parse(data, size, "fuzz.gguf");
    size_t total = 0;
    for (const auto& kv : f->metadata()) total += f->value_to_string(kv, 4).size();
    for (const auto& t : f->tensors()) {
      // Touch the first and last byte of each tensor: they must lie inside the image.
      if (t.nbytes) total += t.data[0] + t.data[t.nbytes - 1];
    }
    (void)f->get_string("general.architecture");
    (void)f->get_uint("general.alignment");
    (void)f->get_string_array("tokenizer.ggml.tokens");
    return total == 0x7fffffff ? 1 : 0;
  } catch (const latte::Error&) {
    return 0;
  }
}
