//! Graph nodes: what an op saved for backward and how to compute its input gradients.

use super::grad_math::sum_to_shape;
use crate::dispatch::kernel_call;
use crate::error::{CoreError, Result};
use crate::tensor::Tensor;
use ferrite_sdk::abi::host::GradHook;
use ferrite_sdk::abi::op::KernelEntry;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;
use std::sync::{Arc, Mutex};

/// A tensor saved for backward with the storage version it had when saved.
pub struct SavedTensor {
    /// Detached (no grad_fn, so no reference cycle through the graph).
    pub tensor: Tensor,
    /// Storage version at save time.
    pub version: u64,
}

impl SavedTensor {
    /// Saves `t` (detached).
    pub fn new(t: &Tensor) -> SavedTensor {
        SavedTensor { tensor: t.detach(), version: t.0.storage.version() }
    }

    /// The tensor, if its storage was not written in place since it was saved.
    pub fn get(&self, op: &str, what: &str) -> Result<&Tensor> {
        let now = self.tensor.0.storage.version();
        if now != self.version {
            return Err(CoreError::Autograd(format!(
                "one of the variables needed for gradient computation has been modified by an inplace operation: \
                 {what} of {op} is at version {now}; expected version {} instead",
                self.version
            )));
        }
        Ok(&self.tensor)
    }
}

/// Tensors a kernel backward needs.
pub struct Saved {
    /// Forward inputs (`None` for absent optional inputs).
    pub inputs: Vec<Option<SavedTensor>>,
    /// Forward outputs.
    pub outputs: Vec<SavedTensor>,
}

/// How a node computes its input gradients.
pub enum BackwardFn {
    /// A plugin's backward kernel.
    Kernel {
        /// Forward/backward kernels chosen at forward time.
        entry: KernelEntry,
        /// Forward attributes, with defaults filled.
        attrs: Vec<Attr>,
    },
    /// `reshape`: gradient reshaped back.
    Reshape,
    /// `permute(dims)`: gradient permuted by the inverse.
    Permute(Vec<usize>),
    /// `expand`: gradient summed back to the input shape.
    Expand,
    /// `slice(dim, start, end, step)`: gradient scattered into zeros.
    Slice {
        /// Sliced dimension.
        dim: usize,
        /// First index.
        start: usize,
        /// End (exclusive).
        end: usize,
        /// Step.
        step: usize,
    },
    /// dtype conversion (or `contiguous`): gradient converted back.
    Cast,
    /// A custom function's callback ([`super::custom`]); taken (and its state freed) by a
    /// backward without `retain_graph`.
    Custom(Mutex<Option<Arc<super::custom::CustomFn>>>),
}

/// Where a gradient flows next.
pub enum Edge {
    /// Into output `output_nr` of another node.
    Node {
        /// The producer.
        node: Arc<Node>,
        /// Which of its outputs.
        output_nr: usize,
    },
    /// Into a leaf's `.grad`.
    Leaf(Tensor),
}

/// A gradient hook registered through the host table; frees its state on drop.
pub struct Hook(pub GradHook);

impl Drop for Hook {
    fn drop(&mut self) {
        (self.0.drop_user)(self.0.user)
    }
}

/// One recorded op.
pub struct Node {
    /// Op name, for error messages.
    pub name: String,
    /// How to compute input gradients.
    pub backward: BackwardFn,
    /// Saved tensors; `None` once released by a backward without `retain_graph`.
    pub saved: Mutex<Option<Saved>>,
    /// One entry per forward input: where its gradient goes (`None`: not needed).
    pub next: Vec<Option<Edge>>,
    /// Shape and dtype of each forward input (for allocating gradients).
    pub input_meta: Vec<Option<(Vec<i64>, DType)>>,
    /// Shape and dtype of each forward output (for zero gradients).
    pub output_meta: Vec<(Vec<i64>, DType)>,
    /// Hooks on non-leaf outputs: `(output_nr, hook)`.
    pub hooks: Mutex<Vec<(usize, Arc<Hook>)>>,
}

fn zeros_like_meta(m: &(Vec<i64>, DType)) -> Result<Tensor> {
    Tensor::zeros(&m.0, m.1)
}

impl Node {
    /// Computes the gradient of each forward input from the gradients of the outputs
    /// (`None` where not needed).
    pub fn apply(&self, grads: Vec<Option<Tensor>>, retain_graph: bool) -> Result<Vec<Option<Tensor>>> {
        if let BackwardFn::Custom(f) = &self.backward {
            return self.apply_custom(f, grads, retain_graph);
        }
        let mut guard = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let needs: Vec<bool> = self.next.iter().map(|e| e.is_some()).collect();
        let grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&self.output_meta)
            .map(|(g, m)| g.map(Ok).unwrap_or_else(|| zeros_like_meta(m)))
            .collect::<Result<_>>()?;
        let out = match &self.backward {
            BackwardFn::Kernel { entry, attrs } => {
                let Some(saved) = guard.as_ref() else {
                    return Err(CoreError::Autograd(format!(
                        "trying to backward through {} a second time: its saved tensors were freed; \
                         call backward with retain_graph=true the first time",
                        self.name
                    )));
                };
                self.kernel_backward(entry, attrs, saved, &grads, &needs)?
            }
            other => {
                let g = &grads[0];
                let (in_shape, in_dtype) = self.input_meta[0].clone().expect("view input present");
                let shape: Vec<isize> = in_shape.iter().map(|&d| d as isize).collect();
                let gi = match other {
                    BackwardFn::Reshape => g.reshape_view(&shape)?,
                    BackwardFn::Permute(dims) => {
                        let mut inv = vec![0; dims.len()];
                        for (i, &d) in dims.iter().enumerate() {
                            inv[d] = i;
                        }
                        g.permute_view(&inv)?
                    }
                    BackwardFn::Expand => sum_to_shape(g, &in_shape)?,
                    BackwardFn::Slice { dim, start, end, step } => {
                        let z = Tensor::zeros(&in_shape, g.dtype())?;
                        z.slice_view(*dim, *start, *end, *step)?.copy_from(g)?;
                        z
                    }
                    BackwardFn::Cast => g.cast(in_dtype)?,
                    BackwardFn::Kernel { .. } | BackwardFn::Custom(_) => unreachable!("handled above"),
                };
                vec![needs[0].then_some(gi)]
            }
        };
        if !retain_graph {
            *guard = None;
        }
        Ok(out)
    }

    /// Runs a custom backward without holding any lock of this node, so the callback may run
    /// a backward of its own (reentrant checkpointing).
    fn apply_custom(
        &self,
        f: &Mutex<Option<Arc<super::custom::CustomFn>>>,
        grads: Vec<Option<Tensor>>,
        retain_graph: bool,
    ) -> Result<Vec<Option<Tensor>>> {
        // Clone the callback out (or take it, freeing its state after this call, without
        // retain_graph) and release the lock before calling it.
        let cf = {
            let mut slot = f.lock().unwrap_or_else(|e| e.into_inner());
            if retain_graph { slot.clone() } else { slot.take() }
        };
        let Some(cf) = cf else {
            return Err(CoreError::Autograd(format!(
                "trying to backward through {} a second time: its state was freed; \
                 call backward with retain_graph=true the first time",
                self.name
            )));
        };
        let grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&self.output_meta)
            .map(|(g, m)| g.map(Ok).unwrap_or_else(|| zeros_like_meta(m)))
            .collect::<Result<_>>()?;
        cf.call(&self.name, &grads, &self.input_meta)
    }

    fn kernel_backward(
        &self,
        entry: &KernelEntry,
        attrs: &[Attr],
        saved: &Saved,
        grads: &[Tensor],
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let saved_in: Vec<Option<&Tensor>> = saved
            .inputs
            .iter()
            .enumerate()
            .map(|(i, s)| s.as_ref().map(|s| s.get(&self.name, &format!("input {i}"))).transpose())
            .collect::<Result<_>>()?;
        let saved_out: Vec<&Tensor> =
            saved.outputs.iter().enumerate().map(|(i, s)| s.get(&self.name, &format!("output {i}"))).collect::<Result<_>>()?;
        // Sharded parameters released since the forward are fetched again (ZeRO-3 backward).
        let name = &self.name;
        let _pins = crate::tensor::fetch::materialize(saved_in.iter().flatten().copied().chain(saved_out.iter().copied()), |i| {
            format!("backward of {name}: saved tensor {i}")
        })?;
        let mut inputs: Vec<TensorView> = grads.iter().map(|g| g.view()).collect();
        inputs.extend(saved_in.iter().map(|t| t.map_or(TensorView::ABSENT, |t| t.view())));
        inputs.extend(saved_out.iter().map(|t| t.view()));
        let mut outs: Vec<Option<Tensor>> = Vec::with_capacity(needs.len());
        for (i, &need) in needs.iter().enumerate() {
            outs.push(match (&self.input_meta[i], need) {
                (Some(m), true) => Some(zeros_like_meta(m)?),
                _ => None,
            });
        }
        let out_views: Vec<TensorView> = outs.iter().map(|o| o.as_ref().map_or(TensorView::ABSENT, |t| t.view())).collect();
        let abi_attrs: Vec<_> = attrs.iter().map(|a| a.as_abi()).collect();
        kernel_call(&self.name, entry.backward, &inputs, &out_views, &abi_attrs, "backward")?;
        Ok(outs)
    }
}
