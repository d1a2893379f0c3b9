//! How long-running domain code reports progress without printing: the command
//! line hands it a progress bar, tests and library users hand it [`NoProgress`].

/// What domain code reports progress through; it never prints itself.
pub trait Progress: Sync {
    fn set_length(&self, _len: u64) {}
    fn set_position(&self, _pos: u64) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}
