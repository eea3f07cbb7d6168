//! An optimizer described as data (`[optimizer]` in a TOML config), so that strategies and
//! hosts can build the same optimizer from one description.

use super::{AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use crate::error::Result;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Which optimizer and its hyper-parameters, with PyTorch's defaults for omitted fields
/// (`torch.optim.SGD`, `torch.optim.AdamW`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::optim::OptimizerSpec;
/// let spec: OptimizerSpec = serde_json::from_str(r#"{"kind": "adamw", "lr": 0.01}"#).unwrap();
/// assert_eq!(spec, OptimizerSpec::AdamW { lr: 0.01, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01 });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with optional momentum and (coupled) weight decay.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0 = none).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdamW (Loshchilov & Hutter 2019).
    #[serde(rename = "adamw")]
    AdamW {
        /// Learning rate.
        lr: f64,
        /// Moment decay rates.
        #[serde(default = "default_betas")]
        betas: (f64, f64),
        /// Denominator term.
        #[serde(default = "default_eps")]
        eps: f64,
        /// Decoupled weight decay.
        #[serde(default = "default_wd")]
        weight_decay: f64,
    },
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}
fn default_eps() -> f64 {
    1e-8
}
fn default_wd() -> f64 {
    1e-2
}

impl OptimizerSpec {
    /// Builds the optimizer over `params` (one parameter group).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for hyper-parameters the optimizer refuses (negative lr...).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::optim::{Optimizer, OptimizerSpec};
    /// let w = host.ones(&[4], DType::F32)?.requires_grad_(true)?;
    /// let spec = OptimizerSpec::Sgd { lr: 0.1, momentum: 0.9, weight_decay: 0.0 };
    /// let opt = spec.build(vec![w])?;
    /// assert_eq!(opt.lr(), 0.1);
    /// assert!(OptimizerSpec::Sgd { lr: -1.0, momentum: 0.0, weight_decay: 0.0 }.build(vec![]).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(&self, params: Vec<Tensor>) -> Result<Box<dyn Optimizer + Send>> {
        Ok(match *self {
            OptimizerSpec::Sgd { lr, momentum, weight_decay } => {
                Box::new(Sgd::new(params, SgdConfig { lr, momentum, weight_decay, ..Default::default() })?)
            }
            OptimizerSpec::AdamW { lr, betas, eps, weight_decay } => {
                Box::new(AdamW::new(params, AdamWConfig { lr, betas, eps, weight_decay, ..Default::default() })?)
            }
        })
    }

    /// One line for logs (`adamw lr=0.001 wd=0.01`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::optim::OptimizerSpec;
    /// let spec = OptimizerSpec::AdamW { lr: 0.001, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01 };
    /// assert_eq!(spec.describe(), "adamw lr=0.001 wd=0.01");
    /// let sgd = OptimizerSpec::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 };
    /// assert_eq!(sgd.describe(), "sgd lr=0.1 momentum=0 wd=0");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            OptimizerSpec::Sgd { lr, momentum, weight_decay } => format!("sgd lr={lr} momentum={momentum} wd={weight_decay}"),
            OptimizerSpec::AdamW { lr, weight_decay, .. } => format!("adamw lr={lr} wd={weight_decay}"),
        }
    }
}
