//! Measurements taken by other tools, turned into results folders that can be reported,
//! plotted and compared like new runs.

pub mod codecarbon;
pub mod labels;
pub mod timestamp;
