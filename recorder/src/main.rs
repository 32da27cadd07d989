//! The `recorder` binary: parses the command line, sets up logging, runs the command, and
//! prints errors as one line (with their causes) and an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use recorder::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands print their own summaries; the logs say more only when asked. The appliance
    // (`run`) logs its lifecycle.
    let quiet = if matches!(cli.command, cli::Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    let default = match cli.verbose {
        0 => quiet,
        1 => "info,recorder=debug",
        _ => "debug,recorder=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`recorder calls | head`) is not an error.
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line: each message's first line, repeats left out (some
/// libraries repeat their own message as the source).
fn one_line(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or("").trim();
        if first.is_empty() || message.contains(first) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(first);
    }
    message
}
