//! The integration tests: one binary, one module per command family.

mod watermark;
