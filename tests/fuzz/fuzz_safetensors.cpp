// libFuzzer target: the safetensors parser (convert input) must reject any malformed image with a latte::Error —
// never crash, hang or read out of bounds (built with ASan + UBSan). Seeds: any small .safetensors file.
#include <cstddef>
#include <cstdint>

#include "formats/safetensors.h"
#include "formats/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = latte::safetensors::File::parse(data, size, "fuzz.safetensors");
    size_t total = 0;
    for (const auto& t : f->tensors()) {
      if (t.nbytes) total += t.data[0] + t.data[t.nbytes - 1];  // data must lie inside the image
      if (latte::safetensors::is_float(t.dtype) && t.n_elements() > 0 && t.n_elements() <= 64) {
        float buf[64];
        latte::safetensors::to_f32(t, 0, t.n_elements(), buf);
        total += buf[0] != 0;
      }
    }
    return total == 0x7fffffff ? 1 : 0;
  } catch (const latte::Error&) {
    return 0;
  }
}
