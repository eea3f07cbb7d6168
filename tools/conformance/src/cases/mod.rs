//! Per-op input strategies: [`strategy`] gives, for every op ops-ref exports, a proptest
//! strategy of [`Case`]s with valid attributes. One set of generators serves the conformance
//! runner ([`Opts::conformance`]) and the reference gradient checks ([`Opts::gradcheck`]).

pub mod gather;
pub mod nn;
pub mod pointwise;
pub mod reduce;
pub mod schema;

use crate::case::Case;
use crate::gen::Opts;
use proptest::prelude::*;

/// Every op with a strategy (ops-ref's exports).
pub const OPS: &[&str] = &[
    "ferrite::abs", "ferrite::adaptive_avg_pool2d", "ferrite::adaptive_max_pool2d", "ferrite::add", "ferrite::argmax",
    "ferrite::avg_pool2d", "ferrite::batch_norm", "ferrite::bmm", "ferrite::cat", "ferrite::conv2d",
    "ferrite::cross_entropy", "ferrite::div", "ferrite::dropout", "ferrite::embedding", "ferrite::eq", "ferrite::exp",
    "ferrite::gather", "ferrite::ge", "ferrite::gelu", "ferrite::gt", "ferrite::index_select", "ferrite::layer_norm",
    "ferrite::le", "ferrite::linear", "ferrite::log", "ferrite::log_softmax", "ferrite::logsumexp", "ferrite::lt",
    "ferrite::matmul", "ferrite::max", "ferrite::max_pool2d", "ferrite::mean", "ferrite::min", "ferrite::mse_loss",
    "ferrite::mul", "ferrite::ne", "ferrite::neg", "ferrite::nll_loss", "ferrite::pow", "ferrite::relu",
    "ferrite::scaled_dot_product_attention", "ferrite::sigmoid", "ferrite::softmax", "ferrite::spatial_pyramid_pool",
    "ferrite::sqrt", "ferrite::stack", "ferrite::sub", "ferrite::sum", "ferrite::tanh", "ferrite::upsample_nearest2d",
    "ferrite::where",
];

/// The strategy of `op` (a canonical name), or `None` when there is no generator for it.
pub fn strategy(op: &str, o: &Opts) -> Option<BoxedStrategy<Case>> {
    let op: &'static str = OPS.iter().copied().find(|&n| n == op)?;
    if let Some(s) = pointwise::unary(op, o).or_else(|| pointwise::arith(op, o)).or_else(|| pointwise::compare(op, o)) {
        return Some(s);
    }
    Some(match op {
        "ferrite::where" => pointwise::where_(o),
        "ferrite::sum" | "ferrite::mean" | "ferrite::logsumexp" => reduce::sum_like(op, o),
        "ferrite::max" | "ferrite::min" | "ferrite::argmax" => reduce::max_like(op, o),
        "ferrite::softmax" | "ferrite::log_softmax" => reduce::softmax_like(op, o),
        "ferrite::cross_entropy" | "ferrite::nll_loss" => reduce::class_loss(op, o),
        "ferrite::mse_loss" => reduce::mse_loss(o),
        "ferrite::cat" => gather::cat(o),
        "ferrite::stack" => gather::stack(o),
        "ferrite::index_select" => gather::index_select(o),
        "ferrite::gather" => gather::gather(o),
        "ferrite::embedding" => gather::embedding(o),
        "ferrite::dropout" => gather::dropout(o),
        "ferrite::matmul" => nn::matmul(o),
        "ferrite::bmm" => nn::bmm(o),
        "ferrite::linear" => nn::linear(o),
        "ferrite::conv2d" => nn::conv2d(o),
        "ferrite::max_pool2d" => nn::max_pool2d(o),
        "ferrite::avg_pool2d" => nn::avg_pool2d(o),
        "ferrite::adaptive_max_pool2d" | "ferrite::adaptive_avg_pool2d" | "ferrite::upsample_nearest2d" => nn::resize(op, o),
        "ferrite::spatial_pyramid_pool" => nn::spp(o),
        "ferrite::layer_norm" => nn::layer_norm(o),
        "ferrite::batch_norm" => nn::batch_norm(o),
        "ferrite::scaled_dot_product_attention" => nn::sdpa(o),
        _ => return None,
    })
}
