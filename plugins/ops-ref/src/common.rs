//! Shape helpers shared by the reference ops (defined in `ferrite_sdk::shape`, re-exported here).

pub use ferrite_sdk::shape::{norm_dim, req, same_as_input};
