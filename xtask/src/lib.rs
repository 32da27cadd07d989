//! What `cargo xtask` does, as a library: the deterministic call capture generator
//! ([`traffic`]), which the end-to-end tests use too, and the benchmarks ([`bench`]).

pub mod bench;
pub mod traffic;
