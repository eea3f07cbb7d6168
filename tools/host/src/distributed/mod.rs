//! Distributed training in the host: the `[parallel]` config ([`config`]), starting ranks
//! ([`launch`]), the strategy object ([`strategy`]), each rank's loop ([`rank`], [`plan`]),
//! the command ([`train`]) and sharded checkpoints ([`shards`]).

pub mod args;
pub mod config;
pub mod launch;
pub mod merge;
pub mod plan;
pub mod progress;
pub mod rank;
pub mod resume;
pub mod run_lock;
pub mod shards;
pub mod strategy;
pub mod train;

pub use config::ParallelConfig;
pub use train::train_parallel;
