//! Tools for writing kernels: reading/writing views, attributes, the panic firewall, and the
//! f64 reference-kernel adapter used by ops-ref.

pub mod array;
pub mod attrs;
pub mod io;
pub mod parallel;
pub mod reference;

pub use array::Array;
pub use attrs::{Attr, Attrs};
pub use reference::{BackwardArgs, Meta};
