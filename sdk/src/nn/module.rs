//! The [`Module`] trait (PyTorch's `torch.nn.Module`): a forward function plus named parameters,
//! named buffers, train/eval mode and state dicts.

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer or model (`torch.nn.Module`).
///
/// Implementors provide [`forward`](Module::forward), [`named_parameters`](Module::named_parameters),
/// [`train`](Module::train) and [`is_training`](Module::is_training); composite modules must
/// prefix their children's names (`features.0.weight`, see [`prefixed`]) and forward `train`
/// to every child, so `model.eval()` reaches a `Dropout` nested anywhere (field case C18).
/// Everything else has a default.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Linear, Module};
/// /// Two linear layers with a ReLU in between.
/// struct Mlp { fc1: Linear, fc2: Linear, training: bool }
/// impl Module for Mlp {
///     fn forward(&self, x: &Tensor) -> Result<Tensor> {
///         self.fc2.forward(&self.fc1.forward(x)?.relu()?)
///     }
///     fn named_parameters(&self) -> Vec<(String, Tensor)> {
///         let mut v = ferrite_sdk::nn::prefixed("fc1", self.fc1.named_parameters());
///         v.extend(ferrite_sdk::nn::prefixed("fc2", self.fc2.named_parameters()));
///         v
///     }
///     fn train(&mut self, mode: bool) { self.training = mode; }
///     fn is_training(&self) -> bool { self.training }
/// }
/// let mut m = Mlp {
///     fc1: Linear::new(&host, 4, 8, true, DType::F32)?,
///     fc2: Linear::new(&host, 8, 2, true, DType::F32)?,
///     training: true,
/// };
/// assert_eq!(m.forward(&host.ones(&[3, 4], DType::F32)?)?.shape(), vec![3, 2]);
/// assert_eq!(m.num_parameters(), 4 * 8 + 8 + 8 * 2 + 2);
/// m.eval();
/// assert!(!m.is_training());
/// let names: Vec<String> = m.state_dict().into_iter().map(|(k, _)| k).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// # Ok(())
/// # }
/// ```
pub trait Module: Send {
    /// Applies the module to `x`. Shapes and dtypes are documented on each layer.
    ///
    /// # Errors
    /// Whatever the underlying ops return for bad shapes or dtypes.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Learnable tensors with dotted names, children prefixed (`named_parameters()`). The
    /// tensors are handles to the module's own parameters, not copies.
    fn named_parameters(&self) -> Vec<(String, Tensor)>;

    /// Non-learnable state saved in the state dict (`running_mean`, ...). Default: none.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The parameters without names (`parameters()`), e.g. for an optimizer.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// Sets training (`true`) or evaluation mode, recursively for children (`train(mode)`).
    fn train(&mut self, mode: bool);

    /// Evaluation mode: `train(false)` (`eval()`).
    fn eval(&mut self) {
        self.train(false)
    }

    /// Whether the module is in training mode (`.training`).
    fn is_training(&self) -> bool;

    /// Clears every parameter's `.grad` (`zero_grad(set_to_none=True)`, PyTorch's default).
    fn zero_grad(&self) {
        for p in self.parameters() {
            // Clearing a gradient cannot fail for a live parameter; nothing useful to report.
            let _ = p.set_grad(None);
        }
    }

    /// Parameters then buffers, detached (`state_dict()`): same storage, no autograd history.
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.named_parameters().into_iter().chain(self.named_buffers()).map(|(n, t)| (n, t.detach())).collect()
    }

    /// Copies values from `sd` into this module's parameters and buffers in place
    /// (`load_state_dict`), converting dtype if needed, under `no_grad`. Handles held elsewhere
    /// (by an optimizer, say) stay valid.
    ///
    /// Everything is validated before anything is copied, so on error the module is unchanged.
    ///
    /// # Errors
    /// [`crate::Error::StateDict`] listing missing keys and unexpected keys (only when `strict`),
    /// shape mismatches and duplicate keys (always, as PyTorch); [`crate::Error::Host`] if a copy
    /// fails.
    fn load_state_dict(&self, sd: &[(String, Tensor)], strict: bool) -> Result<()> {
        super::state::load_into(&self.named_parameters().into_iter().chain(self.named_buffers()).collect::<Vec<_>>(), sd, strict)
    }

    /// Writes [`Module::state_dict`] to a safetensors file, atomically (temp file + rename).
    ///
    /// # Errors
    /// [`crate::Error::Checkpoint`] / [`crate::Error::Safetensors`] if the file cannot be written.
    fn save_safetensors(&self, path: &std::path::Path) -> Result<()> {
        crate::checkpoint::save_safetensors(path, &self.state_dict(), None)
    }

    /// Loads a safetensors file written by [`Module::save_safetensors`] (or PyTorch's
    /// `safetensors.torch.save_file` of a `state_dict`) into this module in place. The file is
    /// fully validated first; on any error the module is unchanged.
    ///
    /// # Errors
    /// Malformed files ([`crate::Error::Safetensors`]), and as [`Module::load_state_dict`].
    fn load_safetensors(&self, host: &crate::Host, path: &std::path::Path, strict: bool) -> Result<()> {
        let sd = crate::checkpoint::load_safetensors(host, path)?;
        self.load_state_dict(&sd, strict)
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        (**self).named_parameters()
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        (**self).named_buffers()
    }
    fn train(&mut self, mode: bool) {
        (**self).train(mode)
    }
    fn is_training(&self) -> bool {
        (**self).is_training()
    }
}

/// Prefixes each name with `prefix.` (how a parent names its child's tensors).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{prefixed, Linear, Module};
/// let fc = Linear::new(&host, 2, 2, false, DType::F32)?;
/// let named = prefixed("encoder.0", fc.named_parameters());
/// assert_eq!(named[0].0, "encoder.0.weight");
/// # Ok(())
/// # }
/// ```
pub fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named.into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)).collect()
}

/// Implements the mode plumbing of a leaf module that stores its mode in a `training: bool` field.
macro_rules! leaf_mode {
    () => {
        fn train(&mut self, mode: bool) {
            self.training = mode;
        }
        fn is_training(&self) -> bool {
            self.training
        }
    };
}
pub(crate) use leaf_mode;
