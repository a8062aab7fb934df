//! The splitter: validated records in, compliant batch files out.

pub mod plan;
