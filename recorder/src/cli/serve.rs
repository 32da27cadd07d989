//! `recorder serve`: the web journal on a data folder, until SIGINT or SIGTERM.
//!
//! The process opens the journal for writing (it owns it, as `recorder run` will), so the
//! command line reaches it meanwhile through `--url`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use web::{Store, WebConfig};

use super::ServeArgs;
use crate::journal::{Journal, JournalStore};

/// Runs `recorder serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let journal = Journal::open(&args.data)?;
    let store = JournalStore::new(journal.connection(), &args.data)?;
    if store.users()?.is_empty() {
        eprintln!(
            "no users yet: add one with `recorder user add NAME --role admin --data {}`",
            args.data.display()
        );
    }
    let config = WebConfig {
        listen: args.listen,
        secure_cookies: args.secure_cookies,
        tls: args.tls.load()?,
        ..WebConfig::default()
    };
    tracing::info!(data = %args.data.display(), "serving the journal");
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    web::run_until_stopped(Arc::new(store), &config, |addr| {
        eprintln!("listening on {scheme}://{addr}");
    })
    .with_context(|| format!("serving on {}", args.listen))?;
    drop(journal);
    Ok(ExitCode::SUCCESS)
}
