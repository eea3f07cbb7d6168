//! The communication scheduler: process groups over `comm.*` backend plugins.
//!
//! Each [`ProcessGroup`] owns one backend communicator and one dedicated thread fed by a
//! crossbeam queue. Collectives are queued in call order and run one at a time, so a rank's
//! collectives reach the backend in exactly the order the program issued them (which is what
//! keeps every rank's sequence the same), while the caller goes on — typically with backward,
//! which produces the next bucket. Each queued collective returns a work id; waiting on it
//! gives the backend's result or, after the group's timeout, a clear error (a dead peer never
//! means a hang).

mod api;
mod group;

pub use api::group_ref;
pub use group::{ProcessGroup, DEFAULT_TIMEOUT};
