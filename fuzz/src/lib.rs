//! The recorder's parsers, reassemblers and capture-file reader, built for libFuzzer.
//!
//! Why the modules are included by path: the `recorder` crate links DuckDB (30+ minutes of
//! C++ to build, again for each sanitizer and toolchain), libopus, aya and the web server, and
//! splitting it behind a `default-features = false` feature would touch most of its modules
//! (journal, pipeline, cli, web all reach DuckDB). The code under test is pure and small:
//! `wire/` (no I/O, no clock), `time.rs`, and the capture-file reader with the frame and error
//! types. So this crate compiles those very files with `#[path]`: what is fuzzed is the
//! recorder's own source, not a copy, with nothing but etherparse, chrono, libpcap and
//! thiserror under it.
//!
//! [`input`] defines how a fuzz input is cut into several records (TCP segments, IP fragments,
//! frames) for the stateful targets; `src/bin/seed_corpus.rs` writes seeds in the same format
//! from the bundled captures.

#![allow(
    dead_code,
    reason = "the recorder's modules, only partly used by each target"
)]
#![allow(
    unused_imports,
    reason = "re-exports the recorder uses and the targets do not"
)]

#[path = "../../recorder/src/time.rs"]
pub mod time;

#[path = "../../recorder/src/wire/mod.rs"]
pub mod wire;

pub mod capture;
pub mod input;
