//! Measurements taken by other tools, turned into results folders.
