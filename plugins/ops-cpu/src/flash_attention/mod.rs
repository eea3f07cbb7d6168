//! FlashAttention on the CPU: the fast kernels of `ferrite::scaled_dot_product_attention`.
//!
//! Source: Dao, Fu, Ermon, Rudra, Ré, "FlashAttention: Fast and Memory-Efficient Exact Attention
//! with IO-Awareness", NeurIPS 2022 (arXiv:2205.14135).
//!
//! * Forward = Algorithm 1: the queries are cut into tiles of [`BLOCK_Q`] rows and the keys into
//!   tiles of [`BLOCK_K`]; for each (query tile, key tile) the score tile
//!   `S = scale·Q_i·K_jᵀ (+ mask)` is formed in a small buffer (lines 9–10), the running row max
//!   `m` and normaliser `l` are updated (online softmax, lines 11–13) and the output accumulator
//!   is rescaled and advanced by `P̃·V_j` (line 12). The `L×S` score matrix never exists.
//! * Backward = Algorithm 2 / Appendix B.4: `D = rowsum(dO ∘ O)` (eq. in B.4), then for each tile
//!   pair `P = exp(S − LSE)` is recomputed, `dV_j += Pᵀ·dO_i`, `dP = dO_i·V_jᵀ`,
//!   `dS = P ∘ (dP − D_i)`, `dK_j += scale·dSᵀ·Q_i`, `dQ_i += scale·dS·K_j` (lines 11–21).
//!
//! **LSE in backward.** The kernel ABI hands a backward kernel only (grads, inputs, outputs),
//! not extra saved tensors, so the forward saves nothing. The backward *recomputes* the per-row
//! log-sum-exp `LSE_i = m_i + ln l_i` with one tiled pass of the forward's online softmax
//! (the same tiles, without the `P·V` product): `O(L)` memory per head, no `S×S` buffer, one
//! extra `Q·Kᵀ` product (≈ 1/6 of the backward's work).
//!
//! **Threads.** Every loop runs on the host's pool through
//! [`ferrite_sdk::kernel::parallel::parallel_for_ctx`]: the forward and the LSE pass over
//! (batch·heads × query tiles). The backward runs Algorithm 2 per head (outer loop over key
//! tiles, inner over query tiles, so `dK_j`/`dV_j` stay in tile buffers and `dQ` is owned by the
//! head's task) when there are enough heads for the threads; otherwise it splits into a pass over
//! (heads × key tiles) for `dK`, `dV` and a pass over (heads × query tiles) for `dQ` (two more
//! tile products, but no two tasks ever write the same element).
//!
//! **Memory.** Besides the inputs converted to contiguous buffers when they are not already
//! contiguous in the compute type, each task holds a few `BLOCK_Q×BLOCK_K` and
//! `BLOCK×E` tiles (≈ 100 KiB in f32 for E = 64); the backward adds `LSE` and `D`
//! (`2·B·L` numbers). Nothing is `O(L·S)`.
//!
//! **Numerics.** f32 and f64 compute natively; f16/bf16 are read to f32, computed in f32 and
//! rounded once on output. Tile products go through the `gemm` crate (runtime-dispatched SIMD,
//! single-threaded inside a task); `exp` in f32 is a branch-free Cephes polynomial (≈ 2 ulp)
//! that vectorises. A query row with no attendable key (bool mask all false, causal, or every
//! score `-inf`) gets output 0 and zero gradients, never NaN, as in ops-ref.

mod backward_pass;
mod call;
mod forward_pass;
mod geometry;
mod register;
mod tile_math;

pub use backward_pass::{backward_mode, BackwardMode};
pub use register::{backward, backward_with_mode, forward, shape_fn, SDPA_DESC};
pub use tile_math::{exp_f32, Real};

/// Query rows per tile (`B_r` of Algorithm 1). 64×64 f32 score tiles (16 KiB) plus the `Q_i`,
/// `K_j`, `V_j` tiles at E = 64 stay within L1+L2.
pub const BLOCK_Q: usize = 64;
/// Key columns per tile (`B_c` of Algorithm 1).
pub const BLOCK_K: usize = 64;

const OP: &str = "scaled_dot_product_attention";

#[cfg(test)]
mod testhost;
#[cfg(test)]
mod tests_common;
#[cfg(test)]
mod tests_grads;
#[cfg(test)]
mod tests_values;
