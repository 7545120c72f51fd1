// Prefill attention over the latent cache, flash style: every query block meets the keys in blocks of kFlashKeys
// with an online softmax (running max and sum per row, output rescaled per block), so memory per thread is one
// score block, never n × n_ctx. Work is split over the pool's threads by (head, query block) items, costliest
// (longest visible prefix) first, from an atomic counter; each item's products are single-threaded OpenBLAS sgemm
// inside the region (OpenBLAS's own threads stay idle: no second thread team competing with OpenMP's).
//
// Two forms (mla.h): absorbed — all heads' absorbed queries qcat [t][h][Nkv+R] against the cache rows K [s][Nkv+R]
// themselves (values = their first Nkv columns), output o_lat [t][h][Nkv]; expanded — per head K_h [s] =
// [Kb_h c_kv[s] | k_pe[s]] and V_h [s] = Vb_h c_kv[s] built once per micro-batch (parallel over head × key block,
// in head groups bounded to kFlashExpandBudget bytes), then q [t][h][P+R] against them, output o [t][h][Dv].
// Thread-safety: one call at a time per scratch; fans out over ops.pool().
#pragma once
#include <cstdint>
#include <vector>

namespace latte {
class Ops;
struct LayerWeights;

struct FlashScratch {
  std::vector<std::vector<float>> thread;  // per thread: scores [rows][kFlashKeys], row max, row sum
  std::vector<float> kb, vb;               // expanded: f32 Kb [H][Nkv][P], Vb [H][Dv][Nkv]
  std::vector<float> kexp, vexp;           // expanded: K_h [hg][m][P+R], V_h [hg][m][Dv] of one head group
  std::vector<int64_t> items;
};

// Absorbed form. K: [m][W] f32 rows (W = Nkv + R), m = pos0 + n; qcat: [n][H][W]; olat: [n][H][Nkv].
// Token t (position pos0 + t) sees rows [0, pos0 + t].
void flash_absorbed(Ops& ops, const float* K, const float* qcat, int64_t n, int64_t H, int64_t Nkv, int64_t W,
                    int64_t pos0, float scale, float* olat, FlashScratch& s);

// Expanded form. K as above; q: [n][H][P+R] (q_nope | rotated q_pe); o: [n][H][Dv]. attn_k_b: [H] × [Nkv][P]
// (ne = {P, Nkv, H}), attn_v_b: [H] × [Dv][Nkv] (ne = {Nkv, Dv, H}) from the layer weights.
void flash_expanded(Ops& ops, const LayerWeights& w, const float* K, const float* q, int64_t n, int64_t H,
                    int64_t Nkv, int64_t R, int64_t P, int64_t Dv, int64_t pos0, float scale, float* o,
                    FlashScratch& s);

}  // namespace latte
