//! Progress of long work, for a progress bar or a log; the engine never prints.

use roster_domain::RunId;

/// Told how a sync advances. Every method has an empty default.
pub trait Progress: Send + Sync {
    /// The sync is recorded as the run `run`; whoever started it can now point at it.
    fn started(&self, _run: RunId) {}
    /// `count` more directory objects were read.
    fn objects_read(&self, _count: u64) {}
    /// The plan is built; `total` changes will be applied.
    fn applying(&self, _total: u64) {}
    /// `count` more changes were applied (or failed).
    fn changes_applied(&self, _count: u64) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
