// libFuzzer target: `latte serve`'s request validation. Any byte string as an HTTP body must give either a parsed
// request or a 4xx error object — never a crash, hang or escaped exception; building every response shape from a
// parsed request must not throw either. (cli/ sources are compiled in: they are part of the latte binary.)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/server_protocol.cpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte::server;
  ServedModel served;
  served.id = "tiny";
  auto body = parse_json_body(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!body.ok()) {
    if (body.error.status < 400 || body.error.status > 499) __builtin_trap();
    (void)error_body(body.error).dump();
    return 0;
  }
  auto chat = parse_chat_request(*body.value, served);
  auto comp = parse_completion_request(*body.value, served);
  ResponseMeta m{new_response_id("chatcmpl-"), 0, served.id};
  for (const RequestError* e : {chat.ok() ? nullptr : &chat.error, comp.ok() ? nullptr : &comp.error}) {
    if (!e) continue;
    if (e->status < 400 || e->status > 499 || e->message.empty()) __builtin_trap();
    (void)sse_event(error_body(*e));
  }
  if (chat.ok()) {
    std::string all;
    for (const auto& msg : chat.value->messages) all += msg.content;
    Usage u{int(all.size()), 1};
    (void)sse_event(chat_completion(m, all, all, Finish::Stop, u));
    (void)sse_event(chat_chunk(m, std::nullopt, all, std::nullopt, Finish::Length, u));
  }
  if (comp.ok()) (void)sse_event(text_completion(m, comp.value->prompt, Finish::Stop, Usage{1, 1}));
  return 0;
}
