// Regex pre-tokenizers; see pretokenizer.h. Patterns are transcribed from GGUF_DEEPSEEK.md §E.4, with non-ASCII
// characters written as \x{..} escapes.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runtime/text/pretokenizer.h"

#include <pcre2.h>

#include <cstdio>

#include "formats/error.h"
#include "runtime/text/utf8.h"

namespace latte {

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

// deepseek-llm's letter class as code-point ranges (single code points have lo == hi).
const char32_t kLlmLetters[][2] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
    {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};

std::string llm_letter_class() {
  std::string s = "[";
  char buf[48];
  for (const auto& r : kLlmLetters) {
    if (r[0] == r[1]) std::snprintf(buf, sizeof buf, "\\x{%X}", unsigned(r[0]));
    else std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", unsigned(r[0]), unsigned(r[1]));
    s += buf;
  }
  return s + "]";
}

std::vector<std::string> patterns_for(std::string_view name) {
  if (name == "deepseek-v3") {
    return {
        R"re(\p{N}{1,3})re",
        R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
        R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
    };
  }
  if (name == "deepseek-llm") {
    return {
        R"re([\r\n])re",
        "\\s?" + llm_letter_class() + "+",
        R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re",
        R"re(\s+$)re",
        R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re",
        R"re(\p{N}+)re",
    };
  }
  if (name == "deepseek-coder") {
    return {
        R"re([\r\n])re",
        R"re(\s?\p{L}+)re",
        R"re(\s?\p{P}+)re",
        R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re",
        R"re(\p{N})re",
    };
  }
  if (name == "default") {
    return {R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re"};
  }
  return {};
}

// Splits one piece [text) by `code` into matches and gaps, appending views to `out`.
void split_one(const pcre2_code* code, pcre2_match_data* md, std::string_view text,
               std::vector<std::string_view>& out) {
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t last = 0, offset = 0;
  while (offset < n) {
    int rc = pcre2_match(code, subj, n, offset, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;  // no match, or a matching error (resource limit): the rest stays one gap piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (s > last) out.push_back(text.substr(last, s - last));
    if (e > s) {
      out.push_back(text.substr(s, e - s));
      last = e;
      offset = e;
    } else {  // empty match: step over one code point so the loop advances
      int len;
      utf8::decode(text, e, len);
      offset = e + size_t(len);
    }
  }
  if (last < n) out.push_back(text.substr(last));
}

}  // namespace

bool PreTokenizer::known(std::string_view name) { return !patterns_for(name).empty(); }

PreTokenizer::PreTokenizer(std::string_view name) : name_(name), patterns_(patterns_for(name)) {
  if (patterns_.empty()) throw UnsupportedError("unsupported pre-tokenizer '" + std::string(name) + "'");
  for (const auto& p : patterns_) {
    int err = 0;
    PCRE2_SIZE eoff = 0;
    auto r = std::make_unique<Regex>();
    r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), PCRE2_UTF | PCRE2_UCP, &err, &eoff,
                            nullptr);
    if (!r->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw UnsupportedError("pre-tokenizer '" + name_ + "': regex does not compile at offset " +
                             std::to_string(eoff) + ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);  // optional speed-up; interpretive matching if unavailable
    regexes_.push_back(std::move(r));
  }
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  std::vector<std::string_view> cur{text}, next;
  for (const auto& r : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(r->code, nullptr);
    if (!md) throw ResourceError("pre-tokenizer: out of memory for match data");
    next.clear();
    for (auto piece : cur) split_one(r->code, md, piece, next);
    pcre2_match_data_free(md);
    cur.swap(next);
  }
  out.insert(out.end(), cur.begin(), cur.end());
}

}  // namespace latte
