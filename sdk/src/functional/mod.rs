//! `nn.functional`: PyTorch-style functions over [`Tensor`](crate::Tensor)s, each a call of an exported op.
//!
//! This module is also the contract between the sdk and op plugins: the canonical name, the input
//! order and the attribute order used here are the op schemas every provider (ops-ref, ops-cpu,
//! third-party) registers. Shapes follow PyTorch (NCHW, row-major). Every function returns
//! `Err` with a one-line reason on bad shapes or dtypes; none panics.

pub mod call;

use crate::error::Result;
use crate::kernel::Attr;

// One file per op family; `pub use` keeps every function at `functional::NAME`.
mod attention;
mod layers;
mod loss;
mod pointwise;
mod reduce;
mod tensors;

pub use attention::*;
pub use layers::*;
pub use loss::*;
pub use pointwise::*;
pub use reduce::*;
pub use tensors::*;

/// Sizes as an int-list attribute; a size beyond `i64::MAX` is an error, not a wrapped value.
fn sizes(what: &str, xs: &[usize]) -> Result<Attr> {
    xs.iter()
        .map(|&x| i64::try_from(x).map_err(|_| crate::Error::Invalid(format!("{what}: {x} is too large"))))
        .collect::<Result<Vec<i64>>>()
        .map(Attr::Ints)
}

/// Dims as an int-list attribute.
fn dims_attr(dims: &[isize]) -> Attr {
    Attr::Ints(dims.iter().map(|&d| d as i64).collect())
}
