//! The embedded reference model server behind `joulebench serve` (candle models over HTTP).
