// Tool calls in generated text: a streaming parser that turns the model's own tool-call markup back into calls
// (name + JSON arguments) and passes everything else through as content.
//   DeepSeek-V3 / R1 (GGUF_DEEPSEEK.md §E.8):
//     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//     ["\n"<｜tool▁call▁begin｜>...<｜tool▁call▁end｜>]... <｜tool▁calls▁end｜>
//   DeepSeek-V4 (DSML, dsml.h; V3.2's "function_calls" block is accepted too):
//     <｜DSML｜tool_calls>\n<｜DSML｜invoke name="NAME">\n<｜DSML｜parameter name="P" string="true">V</｜DSML｜parameter>
//     ...\n</｜DSML｜invoke>\n...</｜DSML｜tool_calls>   (arguments = the parameters as one JSON object; whitespace
//     right before the block opener is markup and is not reported as content)
// A call is reported only once it is complete and valid (known name, arguments a JSON object); a block that is
// malformed (unknown name, arguments that are not JSON, text where a call should start, unterminated at the end of
// the stream) comes back verbatim as content, from the first byte that could not be turned into a call.
// Markers are recognised across piece boundaries (a possible partial marker is held back).
// Thread-safety: one parser is one stream's state (one thread at a time).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "runtime/text/chat_format.h"

namespace latte {

struct ParsedToolCall {
  std::string name;
  std::string arguments;                        // the JSON object text as generated (outer whitespace trimmed);
                                                // V4: built from the DSML parameters (compact, markup order)
  std::vector<std::string> argument_fragments;  // `arguments` cut where the pieces fed to the parser were cut
                                                // (V4: one fragment, the whole `arguments`)
};

class ToolCallParser {
 public:
  // `names`: the tools the request offered (a call to another name is malformed); empty = any name.
  // `primed`: text the prompt already holds that the generated text continues (tool_call_prefix), parsed as if it
  // had been generated (so a forced call is parsed like any other). ArgumentError for a format without tool syntax.
  ToolCallParser(ChatFormat f, std::vector<std::string> names, std::string_view primed = {});

  // What one push releases, in stream order: plain text and completed calls.
  struct Segment {
    bool is_call = false;
    std::string content;  // !is_call: plain text (adjacent text is merged into one segment)
    ParsedToolCall call;  // is_call
  };
  using Output = std::vector<Segment>;
  Output push(std::string_view piece);
  Output flush();  // end of stream: releases held-back text; an unfinished call comes back as content
  int n_calls() const { return n_calls_; }
  // Inside a call (its opener seen, its end not yet): a forced call whose arguments are complete is closed by
  // pushing tool_call_suffix.
  bool in_call() const { return state_ == State::Call; }

 private:
  enum class State { Text, Block, Call };
  void step(Output& out);
  void step_dsml(Output& out);  // V4
  // Block state: whitespace, then a call opener (-> Call), the block's closer (-> Text) or text (malformed).
  // Returns false when it needs more bytes.
  bool block_step(Output& out, std::string_view call_open, std::string_view block_close);
  // Call state: the body up to call_close; true once the closer is consumed (body_ / raw_ hold the call).
  bool call_step(std::string_view call_close);
  void finish_call(Output& out);
  void emit_call(Output& out, ParsedToolCall&& call);  // a parsed call out; back to the Block state
  void malformed(Output& out);

  ChatFormat format_;
  std::vector<std::string> names_;
  State state_ = State::Text;
  std::string buf_;          // unconsumed input
  std::string raw_;          // verbatim text of the unfinished block part (since the block start or last call)
  std::string body_;         // the current call's text between its markers
  std::vector<size_t> cuts_; // offsets in body_ where fed pieces ended
  int n_calls_ = 0;
  int block_calls_ = 0;      // calls completed in the current block
  std::string_view block_close_;  // V4: the closer of the open block (tool_calls or function_calls)
};

}  // namespace latte
