//! Number formatting shared by the text tables.

pub use records::number::{sig, sig_opt};
