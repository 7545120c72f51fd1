// Texts of the DeepSeek role and tool markers (GGUF_DEEPSEEK.md §E.1, §E.8): each is one special token of the
// V3/R1 vocabularies. DeepSeek-V4 / V3.2 (DEEPSEEK_V4.md §10) add <｜latest_reminder｜> and the DSML marker
// "｜DSML｜" (one special token inside otherwise plain-text tags such as "<｜DSML｜invoke name=...>").
// "｜" is U+FF5C FULLWIDTH VERTICAL LINE, "▁" is U+2581 LOWER ONE EIGHTH BLOCK.
#pragma once
#include <string_view>

namespace latte::markers {

#define LATTE_FW_BAR "\xEF\xBD\x9C"
#define LATTE_LOW_BLOCK "\xE2\x96\x81"
inline constexpr std::string_view kUser = "<" LATTE_FW_BAR "User" LATTE_FW_BAR ">";
inline constexpr std::string_view kAssistant = "<" LATTE_FW_BAR "Assistant" LATTE_FW_BAR ">";
inline constexpr std::string_view kEndOfSentence = "<" LATTE_FW_BAR "end" LATTE_LOW_BLOCK "of" LATTE_LOW_BLOCK
                                                   "sentence" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolCallsBegin = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "calls" LATTE_LOW_BLOCK
                                                    "begin" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolCallsEnd = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "calls" LATTE_LOW_BLOCK
                                                  "end" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolCallBegin = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "call" LATTE_LOW_BLOCK
                                                   "begin" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolCallEnd = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "call" LATTE_LOW_BLOCK
                                                 "end" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolSep = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "sep" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolOutputsBegin = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "outputs"
                                                      LATTE_LOW_BLOCK "begin" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolOutputsEnd = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "outputs" LATTE_LOW_BLOCK
                                                    "end" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolOutputBegin = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "output" LATTE_LOW_BLOCK
                                                     "begin" LATTE_FW_BAR ">";
inline constexpr std::string_view kToolOutputEnd = "<" LATTE_FW_BAR "tool" LATTE_LOW_BLOCK "output" LATTE_LOW_BLOCK
                                                   "end" LATTE_FW_BAR ">";
inline constexpr std::string_view kLatestReminder = "<" LATTE_FW_BAR "latest_reminder" LATTE_FW_BAR ">";
inline constexpr std::string_view kDsml = LATTE_FW_BAR "DSML" LATTE_FW_BAR;
// DSML tags (DEEPSEEK_V4.md §10). The block is "tool_calls" in V4 and "function_calls" in V3.2; the rest is shared.
inline constexpr std::string_view kDsmlToolCallsOpen = "<" LATTE_FW_BAR "DSML" LATTE_FW_BAR "tool_calls>";
inline constexpr std::string_view kDsmlToolCallsClose = "</" LATTE_FW_BAR "DSML" LATTE_FW_BAR "tool_calls>";
inline constexpr std::string_view kDsmlFunctionCallsOpen = "<" LATTE_FW_BAR "DSML" LATTE_FW_BAR "function_calls>";
inline constexpr std::string_view kDsmlFunctionCallsClose = "</" LATTE_FW_BAR "DSML" LATTE_FW_BAR "function_calls>";
inline constexpr std::string_view kDsmlInvokeOpen = "<" LATTE_FW_BAR "DSML" LATTE_FW_BAR "invoke";  // + ' name="N">'
inline constexpr std::string_view kDsmlInvokeClose = "</" LATTE_FW_BAR "DSML" LATTE_FW_BAR "invoke>";
inline constexpr std::string_view kDsmlParameterOpen = "<" LATTE_FW_BAR "DSML" LATTE_FW_BAR "parameter";
inline constexpr std::string_view kDsmlParameterClose = "</" LATTE_FW_BAR "DSML" LATTE_FW_BAR "parameter>";
#undef LATTE_FW_BAR
#undef LATTE_LOW_BLOCK
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";

}  // namespace latte::markers
