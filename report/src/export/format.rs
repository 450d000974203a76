//! Number formatting shared by the text tables.

pub use records::number::{sig, sig_opt};

/// The label an energy figure carries: empty when measured, otherwise what it is.
pub fn provenance_note(source: &str) -> &'static str {
    match source {
        "measured" => "",
        "mixed" => "partly estimated",
        _ => "estimated",
    }
}
