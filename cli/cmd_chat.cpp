// `latte chat`: multi-turn chat with DeepSeek chat formats (runtime/text/chat_format.h). The conversation is kept as
// messages; each turn re-renders the whole prompt and generate() re-evaluates only what is not a cached prefix.
// Interactive on a terminal (libedit line editing + history, streamed reply, reasoning dimmed / hidden, Ctrl-C
// stops the reply, /commands); with stdin not a terminal: one turn per input line, only the answers printed.
#include <editline/readline.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/session_options.h"
#include "runtime/text/chat_format.h"
#include "formats/error.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"
#include "runtime/text/tokenizer.h"

namespace latte::cli {
namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT; polled by the generate callback
void on_chat_sigint(int) { g_interrupted.store(true); }

enum class ThinkMode { Show, Hide, Strip };

struct ChatCommandOptions {
  SessionOptions session;
  SamplerOptions sampler;
  std::string system;
  std::vector<std::string> think{"show"};  // display (show / hide / strip) and V4 thinking mode (on / off / max)
  std::string chat_format;
  std::string prompt_file;
  std::string dump_prompt_ids;  // hidden: JSON line per turn (prompt ids, reply) for tests
  int n_predict = 512;
};

class Chat {
 public:
  Chat(const ChatCommandOptions& o) : o_(o) {
    for (const auto& t : o.think) {
      if (t == "show") think_ = ThinkMode::Show;
      else if (t == "hide") think_ = ThinkMode::Hide;
      else if (t == "strip") think_ = ThinkMode::Strip;
      else if (t == "on" || t == "off" || t == "max") thinking_ = thinking_mode_from_name(t);
      else
        throw ArgumentError("--think: expected show, hide, strip (display) or on, off, max (DeepSeek-V4 thinking), "
                            "got '" + t + "'");
    }
    if (o.n_predict == 0 || o.n_predict < -1) throw ArgumentError("-n/--n-predict must be > 0 or -1");
    dump_path_ = o.dump_prompt_ids;
    if (dump_path_.empty())
      if (const char* e = std::getenv("LATTE_DUMP_PROMPT_IDS")) dump_path_ = e;
    interactive_ = isatty(STDIN_FILENO);
    color_ = isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");

    model_ = Model::load(o.session.model_params());
    o.session.warn_ctx_cap(*model_);
    format_ = o.chat_format.empty() ? model_->chat_format() : chat_format_from_name(o.chat_format);
    check_memory_before_sessions(*model_, o.session.session_params());
    session_ = std::make_unique<Session>(model_, o.session.session_params());
    Sampler validate(o.sampler.p);  // reject bad sampler flags (e.g. --temp nan) before the first turn
    if (!o.system.empty()) messages_.push_back({"system", o.system});
  }

  int run() {
    if (interactive_) {
      std::printf("latte chat · %s · format %s%s%s · ctx %d\n/help for commands · Ctrl-C stops a reply · Ctrl-D quits\n",
                  model_->name().c_str(), chat_format_name(format_),
                  format_ == ChatFormat::DeepSeekV4 ? " · thinking " : "",
                  format_ == ChatFormat::DeepSeekV4 ? thinking_mode_name(thinking_) : "", session_->n_ctx());
      struct sigaction sa {};
      sa.sa_handler = on_chat_sigint;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, nullptr);
    }
    if (!o_.prompt_file.empty()) {
      std::string text = read_text_file(o_.prompt_file, "--prompt-file");
      require_utf8(text, "--prompt-file");
      turn(text);
    }
    if (interactive_) {
      using_history();
      stifle_history(1000);
      const std::string hist = history_path();
      if (!hist.empty()) read_history(hist.c_str());  // absent file: nothing to read
      while (true) {
        std::string line;
        if (!read_interactive(line)) break;
        if (line.empty()) continue;
        add_history(line.c_str());
        if (!handle(line)) break;
      }
      std::printf("\n");
      if (!hist.empty()) write_history(hist.c_str());
    } else {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (!handle(line)) break;
      }
    }
    return 0;
  }

 private:
  // Line-editing history file: $LATTE_HISTORY (empty = none), else ~/.latte_history.
  static std::string history_path() {
    if (const char* e = std::getenv("LATTE_HISTORY")) return e;
    if (const char* home = std::getenv("HOME")) return std::string(home) + "/.latte_history";
    return {};
  }

  // One line (or several joined by a trailing backslash). False on end of input.
  bool read_interactive(std::string& out) {
    out.clear();
    const char* prompt = "> ";
    while (true) {
      g_interrupted.store(false);
      char* l = readline(prompt);
      if (!l) {
        if (g_interrupted.exchange(false)) {  // Ctrl-C at the prompt: drop the line, ask again
          std::printf("\n");
          out.clear();
          prompt = "> ";
          continue;
        }
        return !out.empty();
      }
      std::string s(l);
      std::free(l);
      if (!s.empty() && s.back() == '\\') {
        s.pop_back();
        out += s + "\n";
        prompt = ". ";
        continue;
      }
      out += s;
      return true;
    }
  }

  // Returns false to quit.
  bool handle(const std::string& line) {
    const bool is_command = line[0] == '/';
    try {
      if (is_command) return command(line);
      require_utf8(line, "message");
      turn(line);
    } catch (const Error& e) {
      // Scripts get a non-zero exit (main prints) for a failed turn; a mistyped /command is reported and skipped.
      if (!interactive_ && (!is_command || e.kind() != ErrorKind::Argument)) throw;
      std::fflush(stdout);
      std::fprintf(stderr, "latte: error: %s\n", e.what());
    }
    return true;
  }

  bool command(const std::string& line) {
    size_t sp = line.find(' ');
    std::string cmd = line.substr(0, sp);
    std::string arg = sp == std::string::npos ? "" : line.substr(sp + 1);
    while (!arg.empty() && arg.back() == ' ') arg.pop_back();
    auto say = [&](const std::string& s) {
      if (interactive_) std::printf("%s\n", s.c_str());
    };
    if (cmd == "/quit" || cmd == "/exit") return false;
    if (cmd == "/help") {
      say("/reset          forget the conversation (keeps the system prompt)\n"
          "/save FILE      save the latent cache + history (FILE) and the messages (FILE.chat.json)\n"
          "/load FILE      restore what /save wrote\n"
          "/system TEXT    set the system prompt (empty TEXT removes it)\n"
          "/stats          context use, shifts, speed\n"
          "/quit           leave (or Ctrl-D); Ctrl-C stops a reply; end a line with \\ to continue it");
    } else if (cmd == "/reset") {
      std::vector<ChatMessage> keep;
      for (auto& m : messages_)
        if (m.role == "system") keep.push_back(m);
      messages_ = std::move(keep);
      session_->truncate(0);
      say("conversation cleared");
    } else if (cmd == "/system") {
      std::vector<ChatMessage> rest;
      if (!arg.empty()) rest.push_back({"system", arg});
      for (auto& m : messages_)
        if (m.role != "system") rest.push_back(m);
      messages_ = std::move(rest);
      say(arg.empty() ? "system prompt removed" : "system prompt set");
    } else if (cmd == "/save") {
      if (arg.empty()) throw ArgumentError("/save needs a file name");
      session_->save(arg);
      nlohmann::json j;
      j["format"] = chat_format_name(format_);
      auto& ms = j["messages"] = nlohmann::json::array();
      for (auto& m : messages_) ms.push_back({{"role", m.role}, {"content", m.content}});
      std::ofstream out(arg + ".chat.json", std::ios::binary);
      out << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      if (!out) throw IoError("/save: cannot write " + arg + ".chat.json");
      say("saved " + std::to_string(session_->n_past()) + " tokens to " + arg);
    } else if (cmd == "/load") {
      if (arg.empty()) throw ArgumentError("/load needs a file name");
      std::ifstream in(arg + ".chat.json", std::ios::binary);
      if (!in) throw IoError("/load: cannot read " + arg + ".chat.json");
      std::vector<ChatMessage> msgs;
      try {
        auto j = nlohmann::json::parse(in);
        for (auto& m : j.at("messages")) msgs.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
      } catch (const nlohmann::json::exception& e) {
        throw FormatError("/load: " + arg + ".chat.json: " + e.what());
      }
      session_->load(arg);
      messages_ = std::move(msgs);
      say("loaded " + std::to_string(session_->n_past()) + " tokens, " + std::to_string(messages_.size()) +
          " messages from " + arg);
    } else if (cmd == "/stats") {
      auto st = session_->stats();
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "format %s · %zu messages · context %lld / %lld tokens · %lld context shifts (%lld tokens "
                    "discarded) · %lld turns dropped · cache %.1f KiB/token\n"
                    "last reply: %d tokens, %.2f tok/s · prompt %d tokens (%d evaluated), %.2f tok/s",
                    chat_format_name(format_), messages_.size(), (long long)st.n_past, (long long)st.n_ctx,
                    (long long)st.context_shifts, (long long)st.tokens_discarded, (long long)turns_dropped_,
                    st.cache_bytes_per_token / 1024.0, last_.n_gen, last_.gen_tps, last_.n_prompt,
                    last_.n_prompt_eval, last_.prompt_tps);
      std::printf("%s\n", buf);  // shown in pipe mode too: the user asked for it
    } else {
      throw ArgumentError("unknown command " + cmd + " (try /help)");
    }
    return true;
  }

  // Prompt ids of the conversation with the generation prompt, dropping the oldest non-system turns until the
  // prompt leaves `reserve` tokens for the reply. ResourceError if the last message alone does not fit.
  std::vector<int32_t> fit_prompt() {
    const Tokenizer& tok = model_->tokenizer();
    const int n_ctx = session_->n_ctx();
    const int reserve = std::min(o_.n_predict > 0 ? o_.n_predict : n_ctx / 4, n_ctx / 2);
    while (true) {
      auto ids = chat_prompt_tokens(tok, format_, messages_, render_options(true));
      if (int(ids.size()) + reserve <= n_ctx) return ids;
      // Find the first non-system message; drop it and everything up to the next user message.
      size_t first = 0;
      while (first < messages_.size() && messages_[first].role == "system") ++first;
      size_t last_user = messages_.size();
      for (size_t i = messages_.size(); i-- > 0;)
        if (messages_[i].role == "user") {
          last_user = i;
          break;
        }
      if (first >= last_user) {
        if (int(ids.size()) < n_ctx) return ids;  // no reserve left, but it fits; generate() shifts as needed
        throw ResourceError("the prompt is " + std::to_string(ids.size()) + " tokens but the context holds " +
                            std::to_string(n_ctx) + " (raise -c or shorten the message)");
      }
      size_t end = first + 1;
      while (end < last_user && messages_[end].role != "user") ++end;
      messages_.erase(messages_.begin() + long(first), messages_.begin() + long(end));
      ++turns_dropped_;
    }
  }

  int n_keep() const {
    std::vector<ChatMessage> sys;
    for (auto& m : messages_)
      if (m.role == "system") sys.push_back(m);
    return int(chat_prompt_tokens(model_->tokenizer(), format_, sys, render_options(false)).size());
  }

  ChatOptions render_options(bool add_generation_prompt) const {
    ChatOptions c;
    c.add_generation_prompt = add_generation_prompt;
    c.thinking = thinking_;
    return c;
  }

  void turn(const std::string& user_text) {
    messages_.push_back({"user", user_text});
    std::vector<int32_t> prompt;
    try {
      prompt = fit_prompt();
    } catch (...) {
      messages_.pop_back();
      throw;
    }
    GenerateParams gp;
    gp.max_tokens = o_.n_predict;
    gp.context_shift = true;
    gp.n_keep = std::min(n_keep(), session_->n_ctx() / 2);
    gp.sampler = o_.sampler.p;
    gp.render_special = true;  // the reasoning splitter must see </think> even where it is a CONTROL token

    ReasoningSplitter split(chat_format_opens_think(format_, thinking_));
    bool in_reasoning = false;
    auto show = [&](const ReasoningSplitter::Parts& p) {
      if (!p.reasoning.empty() && think_ == ThinkMode::Show && interactive_) {
        if (!in_reasoning && color_) std::fputs("\x1b[2m", stdout);
        in_reasoning = true;
        std::fputs(p.reasoning.c_str(), stdout);
      }
      if (!p.content.empty()) {
        if (in_reasoning) {
          if (color_) std::fputs("\x1b[0m", stdout);
          std::fputs("\n", stdout);
          in_reasoning = false;
        }
        std::fputs(p.content.c_str(), stdout);
      }
      std::fflush(stdout);
    };
    std::string content;
    g_interrupted.store(false);
    GenerateResult r = generate(*session_, prompt, gp, [&](const std::string& piece) {
      auto parts = split.push(piece);
      content += parts.content;
      show(parts);
      return !g_interrupted.load();
    });
    auto tail = split.flush();
    content += tail.content;
    show(tail);
    if (in_reasoning && color_) std::fputs("\x1b[0m", stdout);
    std::fputs("\n", stdout);

    messages_.push_back({"assistant", think_ == ThinkMode::Strip ? content : r.text});
    last_.n_gen = int(r.tokens.size());
    last_.gen_tps = r.gen_seconds > 0 ? double(r.tokens.size()) / r.gen_seconds : 0;
    last_.n_prompt = r.n_prompt;
    last_.n_prompt_eval = r.n_prompt_evaluated;
    last_.prompt_tps = r.prompt_seconds > 0 ? r.n_prompt_evaluated / r.prompt_seconds : 0;
    if (interactive_) {
      std::printf("%s[%d tokens · %.1f tok/s · prompt %d tokens, %d new, %.1f tok/s%s]%s\n", color_ ? "\x1b[2m" : "",
                  last_.n_gen, last_.gen_tps, last_.n_prompt, last_.n_prompt_eval, last_.prompt_tps,
                  r.reason == StopReason::Cancelled ? " · stopped" : "", color_ ? "\x1b[0m" : "");
    }
    std::fflush(stdout);
    dump(prompt, r);
  }

  void dump(const std::vector<int32_t>& prompt, const GenerateResult& r) {
    if (dump_path_.empty()) return;
    nlohmann::json j;
    j["turn"] = ++n_turns_;
    j["prompt_ids"] = prompt;
    j["n_prompt"] = r.n_prompt;
    j["n_prompt_evaluated"] = r.n_prompt_evaluated;
    j["reply"] = r.text;
    j["reply_ids"] = r.tokens;
    j["stop"] = stop_reason_name(r.reason);
    std::ofstream out(dump_path_, std::ios::app | std::ios::binary);
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }

  struct LastStats {
    int n_gen = 0, n_prompt = 0, n_prompt_eval = 0;
    double gen_tps = 0, prompt_tps = 0;
  };

  const ChatCommandOptions& o_;
  ThinkMode think_ = ThinkMode::Show;
  ThinkingMode thinking_ = ThinkingMode::On;  // DeepSeek-V4's thinking mode (other formats ignore it)
  bool interactive_ = false, color_ = false;
  std::string dump_path_;
  std::shared_ptr<const Model> model_;
  ChatFormat format_ = ChatFormat::DeepSeekV3;
  std::unique_ptr<Session> session_;
  std::vector<ChatMessage> messages_;
  int64_t turns_dropped_ = 0;
  int n_turns_ = 0;
  LastStats last_;
};

const Registrar reg{Command{
    "chat", "interactive chat with a DeepSeek chat format (one turn per line when stdin is not a terminal)",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<ChatCommandOptions>();
      o->session.add(sub);
      o->sampler.add(sub);
      sub.add_option("-s,--system", o->system, "system prompt");
      sub.add_option("-n,--n-predict", o->n_predict,
                     "max tokens per reply, -1 = until end of turn " + default_note(o->n_predict));
      sub.add_option("--think", o->think,
                     "reasoning display: show (dimmed), hide, strip (also from history); DeepSeek-V4 thinking mode: "
                     "on, off, max (default on); both as a list, e.g. --think off or --think max,hide")
          ->delimiter(',');
      sub.add_option("--chat-format", o->chat_format,
                     "deepseek-v2, deepseek-v3, deepseek-r1 or deepseek-v4 (default: deepseek-v4 for a deepseek4 "
                     "model, else from tokenizer.chat_template)");
      sub.add_option("--prompt-file", o->prompt_file, "send this file's text as the first user message");
      sub.add_option("--dump-prompt-ids", o->dump_prompt_ids, "")->group("");  // hidden, for tests
      return [o] {
        Chat chat(*o);
        return chat.run();
      };
    },
    30}};

}  // namespace
}  // namespace latte::cli
