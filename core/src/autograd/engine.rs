//! The backward pass: reverse topological order over the recorded graph (Kahn's algorithm on
//! the number of consumers each node has), gradients summed where a tensor fans out.

use super::grad_math::add_grads;
use super::node::{Edge, Hook, Node};
use super::NoGradGuard;
use crate::error::{CoreError, Result};
use crate::handles::{borrow_handle, take_handle};
use crate::tensor::{Tensor, TensorImpl};
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> *const Node {
    Arc::as_ptr(n)
}

/// Runs the hooks on a gradient; each may replace it with a tensor of the same shape and dtype.
fn run_hooks(hooks: &[Arc<Hook>], mut g: Tensor) -> Result<Tensor> {
    for h in hooks {
        let out = (h.0.call)(h.0.user, borrow_handle(&g));
        if !out.is_null() {
            // SAFETY: hooks return owned handles created by the host table.
            let new = unsafe { take_handle(out) };
            if new.shape() != g.shape() || new.dtype() != g.dtype() {
                return Err(CoreError::Autograd(format!(
                    "a gradient hook returned a {} gradient of shape {:?} for a {} gradient of shape {:?}",
                    new.dtype(),
                    new.shape(),
                    g.dtype(),
                    g.shape()
                )));
            }
            g = new;
        }
    }
    Ok(g)
}

/// Adds `g` into a leaf's `.grad` after running its hooks.
fn accumulate_leaf(leaf: &Tensor, g: Tensor) -> Result<()> {
    let hooks = leaf.meta().hooks.clone();
    let g = run_hooks(&hooks, g)?;
    if g.shape() != leaf.shape() {
        return Err(CoreError::Autograd(format!(
            "gradient of shape {:?} does not match leaf of shape {:?}",
            g.shape(),
            leaf.shape()
        )));
    }
    let post = {
        let mut m = leaf.meta();
        let new = match m.grad.take() {
            Some(old) => add_grads(&old, &g)?,
            None => g.cast(leaf.dtype())?,
        };
        m.grad = Some(new);
        m.post_accumulate_hooks.clone()
    };
    // Outside the lock: the hooks read and take `.grad`.
    for h in post {
        let out = (h.0.call)(h.0.user, borrow_handle(leaf));
        if !out.is_null() {
            // SAFETY: an owned handle from the host table; the result is ignored by contract.
            drop(unsafe { take_handle(out) });
        }
    }
    Ok(())
}

/// Computes gradients of `root` with respect to every leaf that requires grad and accumulates
/// them into `.grad` (`torch.autograd.backward`). `grad` is the upstream gradient; it may be
/// omitted only for a one-element root. Without `retain_graph`, saved tensors are freed and a
/// second backward through the same nodes is an error.
pub fn backward(root: &Tensor, grad: Option<Tensor>, retain_graph: bool) -> Result<()> {
    let _no_grad = NoGradGuard::new();
    // Gradients follow the forward's dtypes; ops a backward rule calls are never autocast
    // (a checkpoint's recompute restores the forward's autocast state itself).
    let _no_autocast = crate::autocast::Suspend::new();
    if !root.requires_grad() {
        return Err(CoreError::Autograd(
            "element 0 of tensors does not require grad and does not have a grad_fn".into(),
        ));
    }
    let seed = match grad {
        Some(g) => {
            if g.shape() != root.shape() {
                return Err(CoreError::Autograd(format!(
                    "gradient shape {:?} does not match output shape {:?}",
                    g.shape(),
                    root.shape()
                )));
            }
            g
        }
        None if root.numel() == 1 => Tensor::full(root.shape(), 1.0, root.dtype())?,
        None => {
            return Err(CoreError::Autograd(format!(
                "grad can be implicitly created only for scalar outputs (output has shape {:?})",
                root.shape()
            )))
        }
    };
    let (root_fn, root_nr) = {
        let m = root.meta();
        (m.grad_fn.clone(), m.output_nr)
    };
    let Some(root_fn) = root_fn else {
        return accumulate_leaf(root, seed);
    };

    // Count consumers of each node (and incoming edges of each leaf) reachable from the root.
    let mut deps: HashMap<*const Node, usize> = HashMap::new();
    let mut leaf_deps: HashMap<*const TensorImpl, usize> = HashMap::new();
    let mut stack = vec![root_fn.clone()];
    let mut seen: HashMap<*const Node, ()> = HashMap::new();
    seen.insert(key(&root_fn), ());
    while let Some(n) = stack.pop() {
        for e in n.next.iter().flatten() {
            match e {
                Edge::Node { node, .. } => {
                    *deps.entry(key(node)).or_insert(0) += 1;
                    if seen.insert(key(node), ()).is_none() {
                        stack.push(node.clone());
                    }
                }
                Edge::Leaf(leaf) => *leaf_deps.entry(Arc::as_ptr(&leaf.0)).or_insert(0) += 1,
            }
        }
    }
    // A leaf reached along several edges (fan-out) gets the sum of its contributions, and its
    // hooks run once on that sum, as soon as the last contribution has arrived.
    let mut leaf_buffers: HashMap<*const TensorImpl, Tensor> = HashMap::new();

    let mut buffers: HashMap<*const Node, Vec<Option<Tensor>>> = HashMap::new();
    buffers.insert(key(&root_fn), {
        let mut v = vec![None; root_fn.output_meta.len()];
        v[root_nr] = Some(seed);
        v
    });
    let mut ready = vec![root_fn];
    while let Some(node) = ready.pop() {
        let mut grads = buffers.remove(&key(&node)).unwrap_or_else(|| vec![None; node.output_meta.len()]);
        let hooks = node.hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (nr, h) in hooks {
            if let Some(g) = grads[nr].take() {
                grads[nr] = Some(run_hooks(&[h], g)?);
            }
        }
        let input_grads = node.apply(grads, retain_graph)?;
        for (edge, g) in node.next.iter().zip(input_grads) {
            match (edge, g) {
                (Some(Edge::Node { node: next, output_nr }), g) => {
                    if let Some(g) = g {
                        let buf = buffers.entry(key(next)).or_insert_with(|| vec![None; next.output_meta.len()]);
                        buf[*output_nr] = Some(match buf[*output_nr].take() {
                            Some(old) => add_grads(&old, &g)?,
                            None => g,
                        });
                    }
                    let d = deps.get_mut(&key(next)).expect("counted above");
                    *d -= 1;
                    if *d == 0 {
                        ready.push(next.clone());
                    }
                }
                (Some(Edge::Leaf(leaf)), g) => {
                    let k = Arc::as_ptr(&leaf.0);
                    if let Some(g) = g {
                        let sum = match leaf_buffers.remove(&k) {
                            Some(old) => add_grads(&old, &g)?,
                            None => g,
                        };
                        leaf_buffers.insert(k, sum);
                    }
                    let d = leaf_deps.get_mut(&k).expect("counted above");
                    *d -= 1;
                    if *d == 0 {
                        if let Some(g) = leaf_buffers.remove(&k) {
                            accumulate_leaf(leaf, g)?;
                        }
                    }
                }
                (None, _) => {}
            }
        }
    }
    Ok(())
}
