//! Gradient checks of every ops-ref op through the whole stack: sdk functional → host table →
//! core dispatcher → ops-ref kernel → core autograd, in f64 on proptest-generated inputs.
//!
//! For each op, `loss = sum(out * w)` with fixed random weights `w` is differentiated with
//! `loss.backward()`, and every differentiable input's gradient is compared with central finite
//! differences of the same op called through the stack (`h = 1e-6`, tolerance `1e-5 + 1e-5·|fd|`).
//! Inputs cover size-1 dims, odd sizes, broadcasting and non-contiguous leaves (transposed and
//! strided-slice views, with junk in the skipped elements), and the output gradient handed to the
//! backward kernel is sometimes non-contiguous too (the loss reads a transposed view of the output).
//! Kinked ops (abs, relu, max/min, max pooling) get distinct inputs away from 0 and from ties.
//! The inputs come from the per-op strategies of `ferrite-conformance` (`cases::strategy` with
//! `Opts::gradcheck()`), the same generators the conformance suite runs on every plugin.
//!
//! Each gradient-checked op has its own test named after it (`ferrite::x` → `x`, `where_` for
//! `ferrite::where`); `every_op_with_a_backward_has_a_gradient_check` fails when ops-ref exports
//! an op with a backward that has no test here. The shared harness lives in `gradcheck_common/`;
//! forward values (against independent computations, and f32 kernels against f64 kernels for
//! every exported op) are checked in `ops_ref_forward.rs`.

mod gradcheck_common;

use ferrite_conformance::gen::{Layout, Rng};
use ferrite_core::Runtime;
use ferrite_sdk::functional as F;
use ferrite_tests::with_ops_ref;
use gradcheck_common::{case, config, gradcheck, gradcheck_case, inp};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// One gradient check per op with a backward. The test name is the op's name (a trailing `_` is
// dropped), which is how the coverage test below knows what is covered.
// ---------------------------------------------------------------------------------------------

macro_rules! gradcheck_tests {
    ($($(#[$m:meta])* fn $name:ident($($args:tt)*) $body:block)*) => {
        /// Canonical names of the ops gradient-checked in this file.
        fn gradchecked_ops() -> Vec<String> {
            vec![$(format!("ferrite::{}", stringify!($name).trim_end_matches('_'))),*]
        }
        proptest! {
            #![proptest_config(config())]
            $($(#[$m])* #[test] fn $name($($args)*) $body)*
        }
    };
}

gradcheck_tests! {
    fn abs(c in case("ferrite::abs")) {
        gradcheck_case(&c);
    }

    fn relu(c in case("ferrite::relu")) {
        gradcheck_case(&c);
    }

    fn neg(c in case("ferrite::neg")) {
        gradcheck_case(&c);
    }

    fn exp(c in case("ferrite::exp")) {
        gradcheck_case(&c);
    }

    fn log(c in case("ferrite::log")) {
        gradcheck_case(&c);
    }

    fn sqrt(c in case("ferrite::sqrt")) {
        gradcheck_case(&c);
    }

    fn tanh(c in case("ferrite::tanh")) {
        gradcheck_case(&c);
    }

    fn sigmoid(c in case("ferrite::sigmoid")) {
        gradcheck_case(&c);
    }

    fn gelu(c in case("ferrite::gelu")) {
        gradcheck_case(&c);
    }

    fn add(c in case("ferrite::add")) {
        gradcheck_case(&c);
    }

    fn sub(c in case("ferrite::sub")) {
        gradcheck_case(&c);
    }

    fn mul(c in case("ferrite::mul")) {
        gradcheck_case(&c);
    }

    fn div(c in case("ferrite::div")) {
        gradcheck_case(&c);
    }

    fn pow(c in case("ferrite::pow")) {
        gradcheck_case(&c);
    }

    fn where_(c in case("ferrite::where")) {
        gradcheck_case(&c);
    }

    fn matmul(c in case("ferrite::matmul")) {
        gradcheck_case(&c);
    }

    fn bmm(c in case("ferrite::bmm")) {
        gradcheck_case(&c);
    }

    fn sum(c in case("ferrite::sum")) {
        gradcheck_case(&c);
    }

    fn mean(c in case("ferrite::mean")) {
        gradcheck_case(&c);
    }

    fn logsumexp(c in case("ferrite::logsumexp")) {
        gradcheck_case(&c);
    }

    fn max(c in case("ferrite::max")) {
        gradcheck_case(&c);
    }

    fn min(c in case("ferrite::min")) {
        gradcheck_case(&c);
    }

    fn softmax(c in case("ferrite::softmax")) {
        gradcheck_case(&c);
    }

    fn log_softmax(c in case("ferrite::log_softmax")) {
        gradcheck_case(&c);
    }

    fn cross_entropy(c in case("ferrite::cross_entropy")) {
        gradcheck_case(&c);
    }

    fn nll_loss(c in case("ferrite::nll_loss")) {
        gradcheck_case(&c);
    }

    fn mse_loss(c in case("ferrite::mse_loss")) {
        gradcheck_case(&c);
    }

    fn cat(c in case("ferrite::cat")) {
        gradcheck_case(&c);
    }

    fn stack(c in case("ferrite::stack")) {
        gradcheck_case(&c);
    }

    fn index_select(c in case("ferrite::index_select")) {
        gradcheck_case(&c);
    }

    fn gather(c in case("ferrite::gather")) {
        gradcheck_case(&c);
    }

    fn embedding(c in case("ferrite::embedding")) {
        gradcheck_case(&c);
    }

    fn linear(c in case("ferrite::linear")) {
        gradcheck_case(&c);
    }

    fn conv2d(c in case("ferrite::conv2d")) {
        gradcheck_case(&c);
    }

    fn max_pool2d(c in case("ferrite::max_pool2d")) {
        gradcheck_case(&c);
    }

    fn avg_pool2d(c in case("ferrite::avg_pool2d")) {
        gradcheck_case(&c);
    }

    fn adaptive_max_pool2d(c in case("ferrite::adaptive_max_pool2d")) {
        gradcheck_case(&c);
    }

    fn adaptive_avg_pool2d(c in case("ferrite::adaptive_avg_pool2d")) {
        gradcheck_case(&c);
    }

    fn spatial_pyramid_pool(c in case("ferrite::spatial_pyramid_pool")) {
        gradcheck_case(&c);
    }

    fn upsample_nearest2d(c in case("ferrite::upsample_nearest2d")) {
        gradcheck_case(&c);
    }

    fn layer_norm(c in case("ferrite::layer_norm")) {
        gradcheck_case(&c);
    }

    fn batch_norm(c in case("ferrite::batch_norm")) {
        gradcheck_case(&c);
    }

    fn scaled_dot_product_attention(c in case("ferrite::scaled_dot_product_attention")) {
        gradcheck_case(&c);
    }

    fn dropout(c in case("ferrite::dropout")) {
        gradcheck_case(&c);
    }
}

/// The harness itself: a forward that hides part of its dependence from autograd (`x * x.detach()`
/// has gradient `x`, its finite difference is `2x`) must be reported.
#[test]
#[should_panic(expected = "gradient mismatches")]
fn gradcheck_reports_a_wrong_gradient() {
    let mut r = Rng::new(7);
    let x = r.vals(6, 0.5, 2.0);
    gradcheck("x * x.detach()", &[inp(x, &[2, 3], Layout::Transposed)], &mut r, false, |t| F::mul(&t[0], &t[0].detach()));
}

#[test]
fn every_op_with_a_backward_has_a_gradient_check() {
    let _host = with_ops_ref();
    let covered = gradchecked_ops();
    let ops = Runtime::global().registry().summaries();
    assert!(ops.len() > 40, "ops-ref exports only {} ops?", ops.len());
    let missing: Vec<&str> = ops
        .iter()
        .filter(|o| o.kernels.iter().any(|k| k.backward) && !covered.contains(&o.name))
        .map(|o| o.name.as_str())
        .collect();
    assert!(missing.is_empty(), "ops with a backward but no gradient check in ops_ref_gradcheck.rs: {missing:?}");
    for name in &covered {
        let op = ops.iter().find(|o| &o.name == name).unwrap_or_else(|| panic!("{name} is checked but not exported"));
        assert!(op.backward, "{name}: every kernel should have a backward");
    }
}
