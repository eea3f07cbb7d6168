//! # ferrite-conformance — every kernel of a plugin, proven against the reference
//!
//! For each (op, device, dtype) kernel a plugin exports, proptest generates inputs
//! ([`cases`]: shapes with size 0 and 1, odd sizes, transposed, strided and stride-0 broadcast
//! views, large magnitudes, `-inf` where the op allows it, valid attributes), and [`check`]
//! compares the plugin's forward with ops-ref's in f64 on the same inputs, its backward with
//! ops-ref's backward, and (for f64 kernels) with central finite differences of its own
//! forward, all under one [`tolerance`] table. [`runner`] drives proptest's `TestRunner` so a
//! failure shrinks to a minimal counterexample; [`report`] prints the pass/fail table and
//! [`record`] keeps results per plugin file hash.
//!
//! ```no_run
//! use ferrite_conformance::{report, runner};
//! ferrite_core::Runtime::global().load_plugin("libferrite_ops_ref.so".as_ref()).unwrap();
//! ferrite_core::Runtime::global().load_plugin("libmy_ops.so".as_ref()).unwrap();
//! let rep = runner::run(&runner::RunConfig::new("my-ops")).unwrap();
//! print!("{}", report::table(&rep));
//! ```

#![warn(missing_docs)]

pub mod case;
pub mod cases;
pub mod check;
pub mod fd;
pub mod gen;
pub mod record;
pub mod report;
pub mod runner;
pub mod tensors;
pub mod tolerance;

pub use case::{Case, Input, Kind};
pub use gen::{Layout, Opts, Rng};
pub use runner::{run, Report, Row, RunConfig, Status};
pub use tolerance::Tolerance;
