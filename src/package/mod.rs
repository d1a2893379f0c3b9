//! The packaging pipeline.
