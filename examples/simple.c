/* simple.c — the smallest use of Latte's C API: load a model, tokenize a prompt, stream a short completion.
 *
 *   cc -std=c99 simple.c $(pkg-config --cflags --libs latte) -o simple
 *   ./simple model.gguf ["prompt"] [n_tokens]
 */
#include <latte.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool print_piece(const char* text, size_t len, latte_piece_kind kind, void* user_data) {
  (void)user_data;
  if (kind == LATTE_PIECE_REASONING) fputs("\033[2m", stdout); /* reasoning dimmed */
  fwrite(text, 1, len, stdout);
  if (kind == LATTE_PIECE_REASONING) fputs("\033[0m", stdout);
  fflush(stdout);
  return true; /* false would stop the generation */
}

static int fail(const char* what, latte_status s) {
  fprintf(stderr, "simple: %s failed (%s): %s\n", what, latte_status_name(s), latte_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [PROMPT] [N_TOKENS]\n", argv[0]);
    return 2;
  }
  const char* prompt = argc > 2 ? argv[2] : "The";
  int n_tokens = argc > 3 ? atoi(argv[3]) : 32;

  latte_model* model = NULL;
  latte_model_params mp = latte_model_default_params();
  latte_status s = latte_model_load(argv[1], &mp, &model);
  if (s != LATTE_OK) return fail("loading the model", s);

  latte_session_params sp = latte_session_default_params();
  sp.n_ctx = 512;
  latte_session* session = NULL;
  s = latte_session_create(model, &sp, &session);
  if (s != LATTE_OK) {
    latte_model_free(model);
    return fail("creating a session", s);
  }

  /* Ask for the size first, then tokenize into a buffer of that size. */
  size_t n_prompt = 0;
  s = latte_tokenize(model, prompt, strlen(prompt), true, false, NULL, 0, &n_prompt);
  int32_t* ids = malloc((n_prompt ? n_prompt : 1) * sizeof(int32_t));
  if (s == LATTE_ERR_BUFFER_TOO_SMALL && ids)
    s = latte_tokenize(model, prompt, strlen(prompt), true, false, ids, n_prompt, &n_prompt);
  if (s != LATTE_OK || !ids) {
    free(ids);
    latte_session_free(session);
    latte_model_free(model);
    return fail("tokenizing", s);
  }

  latte_generate_params gp = latte_generate_default_params();
  gp.max_tokens = n_tokens;
  gp.sampler.temperature = 0.0f; /* greedy */
  gp.on_piece = print_piece;
  latte_generate_result r;
  fputs(prompt, stdout);
  s = latte_generate(session, ids, n_prompt, &gp, &r);
  free(ids);
  if (s == LATTE_OK)
    fprintf(stderr, "\n[%d prompt tokens, %d generated, %.1f tok/s]\n", r.n_prompt, r.n_generated,
            r.gen_seconds > 0 ? r.n_generated / r.gen_seconds : 0.0);
  latte_session_free(session);
  latte_model_free(model);
  return s == LATTE_OK ? 0 : fail("generating", s);
}
