//! `torch.nn`-style modules over [`Tensor`](crate::Tensor): the [`Module`] trait, layers and
//! [`Sequential`]. Parameters are leaf tensors with `requires_grad`, created through the
//! [`Host`](crate::Host) and owned by the core; modules only hold handles.

pub mod activation;
pub mod checkpointing;
pub mod conv;
pub mod embedding;
pub mod init;
pub mod linear;
pub mod module;
pub mod norm;
pub mod pool;
pub mod sequential;
pub mod state;

pub use activation::{Dropout, Flatten, ReLU};
pub use checkpointing::checkpoint;
pub use conv::{Conv2d, Conv2dConfig};
pub use embedding::Embedding;
pub use linear::Linear;
pub use module::{prefixed, Module};
pub use norm::{BatchNorm2d, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, MaxPool2d, PoolMode, SpatialPyramidPool};
pub use sequential::Sequential;

#[cfg(test)]
mod tests;
