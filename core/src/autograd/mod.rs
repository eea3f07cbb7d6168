//! Define-by-run autograd: every differentiable op call records a [`Node`] on its outputs;
//! [`backward`] walks the recorded graph in reverse topological order.

mod custom;
mod engine;
mod grad_math;
mod node;

pub use custom::{custom_function, CustomFn};
pub use engine::backward;
pub use grad_math::{add_grads, sum_to_shape};
pub use node::{BackwardFn, Edge, Hook, Node, Saved, SavedTensor};

use std::cell::Cell;
use std::sync::Arc;

use crate::tensor::Tensor;

/// Per-tensor autograd state.
#[derive(Default)]
pub struct AutogradMeta {
    /// Whether gradients are wanted for this tensor.
    pub requires_grad: bool,
    /// Accumulated gradient of a leaf (`.grad`).
    pub grad: Option<Tensor>,
    /// The node that produced this tensor (`None` for leaves).
    pub grad_fn: Option<Arc<Node>>,
    /// Which output of `grad_fn` this tensor is.
    pub output_nr: usize,
    /// Hooks run on this leaf's incoming gradient before accumulation.
    pub hooks: Vec<Arc<Hook>>,
    /// Hooks run on this leaf after a gradient was accumulated into `grad`
    /// (`register_post_accumulate_grad_hook`).
    pub post_accumulate_hooks: Vec<Arc<Hook>>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops record the graph on this thread (`torch.is_grad_enabled`).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Sets grad mode for this thread; returns the previous value.
pub fn set_grad_enabled(on: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(on))
}

/// Restores the previous grad mode when dropped (`torch.no_grad()` as a guard).
pub struct NoGradGuard(bool);

impl NoGradGuard {
    /// Turns recording off until the guard is dropped.
    pub fn new() -> NoGradGuard {
        NoGradGuard(set_grad_enabled(false))
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        NoGradGuard::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}

impl Tensor {
    /// Marks a leaf as requiring grad; errors on a non-leaf or a non-float tensor.
    pub fn set_requires_grad(&self, on: bool) -> crate::error::Result<()> {
        if on && !self.dtype().is_float() {
            return crate::error::invalid!("only floating point tensors can require gradients, got {}", self.dtype());
        }
        let mut m = self.meta();
        if m.grad_fn.is_some() {
            return crate::error::invalid!(
                "requires_grad can only be changed on leaf tensors; use detach() to get a leaf"
            );
        }
        m.requires_grad = on;
        Ok(())
    }

    /// The edge autograd follows from a consumer of this tensor, if it needs a gradient.
    pub fn grad_edge(&self) -> Option<Edge> {
        let m = self.meta();
        if !m.requires_grad {
            return None;
        }
        Some(match &m.grad_fn {
            Some(n) => Edge::Node { node: n.clone(), output_nr: m.output_nr },
            None => Edge::Leaf(self.clone()),
        })
    }
}
