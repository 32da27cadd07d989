//! The `recorder` command line: arguments (clap), then one module per command.

pub mod calls;
pub mod export;
pub mod hold;
pub mod import;
pub mod policy;
pub mod remote;
pub mod retention;
pub mod run;
pub mod serve;
pub mod status;
pub mod streams;
pub mod user;
pub mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::journal::CallFilter;
use crate::time::Timestamp;

/// Passive SIP/RTP call recorder.
#[derive(Debug, Parser)]
#[command(name = "recorder", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture live on an interface (a mirror port) until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Show what the running recorder reports (capture, loss, calls).
    Status(StatusArgs),
    /// Import capture files (pcap, pcapng): calls into the journal, recordings to disk.
    Import(ImportArgs),
    /// List calls in the journal.
    Calls(CallsArgs),
    /// List RTP streams that no SIP announced (unsignalled or encrypted signalling).
    Streams(StreamsArgs),
    /// Export calls and recordings for compliance: a folder with manifest and checksums.
    Export(ExportArgs),
    /// Ask the recording policy.
    Policy(PolicyArgs),
    /// Serve the web journal (and its JSON API) on a data folder.
    Serve(ServeArgs),
    /// Manage the web journal's users.
    User(UserArgs),
    /// Check the audit log's hash chain and every recording's SHA-256 against the journal.
    Verify(VerifyArgs),
    /// Delete calls and recordings older than the retention period (except legal holds).
    Retention(RetentionArgs),
    /// Put calls under legal hold (retention keeps them), lift holds, list them.
    Hold(HoldArgs),
}

/// How `recorder run` captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CaptureKind {
    /// The eBPF program (XDP, else TC ingress); falls back to libpcap if it cannot load.
    Ebpf,
    /// The eBPF program on TC ingress only.
    Tc,
    /// libpcap.
    Pcap,
}

/// `recorder run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The data folder (journal and recordings); created if missing.
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// The mirror (SPAN/TAP) interface.
    #[arg(long, env = "RECORDER_IFACE")]
    pub iface: String,
    /// How to capture.
    #[arg(long, value_enum, default_value = "ebpf")]
    pub capture: CaptureKind,
    /// The configuration file (TOML).
    #[arg(long, env = "RECORDER_CONFIG")]
    pub config: Option<PathBuf>,
    /// The interface is a dedicated mirror port: drop frames in the kernel after capture.
    #[arg(long)]
    pub mirror_only: bool,
    /// Size of the eBPF ring buffer in MiB (rounded up to a power of two).
    #[arg(long, default_value_t = 32)]
    pub ring_mib: u32,
    /// Serve the web journal and its API here too (e.g. 127.0.0.1:8080).
    #[arg(long, env = "RECORDER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Mark the session cookie Secure (when a TLS proxy serves the journal over HTTPS).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Serve HTTPS: the certificate chain (PEM); needs --tls-key. Cookies are then Secure.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// HTTPS for the web journal.
#[derive(Debug, Args, Clone)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "RECORDER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long, env = "RECORDER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The loaded TLS configuration, when asked for.
    pub fn load(&self) -> anyhow::Result<Option<std::sync::Arc<web::tls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(web::tls::load(cert, key)?)),
            _ => Ok(None),
        }
    }
}

/// `recorder status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The data folder of the running recorder.
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// Print the status file as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `recorder import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The data folder (journal and recordings); created if missing.
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// The configuration file (TOML).
    #[arg(long, env = "RECORDER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Import a file again even if the journal has it already.
    #[arg(long)]
    pub force: bool,
    /// Capture files, imported in this order as one capture.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
}

/// Filters shared by `calls` and `export`.
#[derive(Debug, Args, Clone)]
pub struct FilterArgs {
    /// Calls that started at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Calls that started before this time (RFC 3339, UTC); a date (YYYY-MM-DD) includes
    /// that whole day, as in the web journal.
    #[arg(long, value_parser = parse_end_time)]
    pub to: Option<Timestamp>,
    /// Calls where caller or callee is this number (`*` and `?` wildcards allowed).
    #[arg(long)]
    pub number: Option<String>,
    /// Only calls with recordings.
    #[arg(long)]
    pub recorded_only: bool,
}

impl FilterArgs {
    /// Fails on a period that ends before it starts (which would silently match nothing).
    pub fn check(&self) -> anyhow::Result<()> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            anyhow::ensure!(
                from < to,
                "--from {from} is not before --to {to}: the period is empty"
            );
        }
        Ok(())
    }

    /// The journal filter these arguments describe.
    pub fn to_filter(&self) -> CallFilter {
        CallFilter {
            from: self.from,
            to: self.to,
            number: self.number.clone(),
            recorded_only: self.recorded_only,
            ..CallFilter::default()
        }
    }
}

/// Where `calls` and `export` read: a data folder, or a running recorder's web API.
#[derive(Debug, Args, Clone)]
pub struct RemoteArgs {
    /// Ask a running recorder's web API (e.g. http://127.0.0.1:8080) instead of reading the
    /// journal file, which a running recorder keeps locked. Takes precedence over --data.
    #[arg(long)]
    pub url: Option<String>,
    /// The web user to log in as with --url; the password comes from RECORDER_PASSWORD or
    /// standard input.
    #[arg(long, env = "RECORDER_USER")]
    pub user: Option<String>,
}

/// `recorder calls`.
#[derive(Debug, Args)]
pub struct CallsArgs {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA", required_unless_present = "url")]
    pub data: Option<PathBuf>,
    /// Or a running recorder.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print JSON (one array of call objects) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// At most this many calls (newest first).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Which calls.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `recorder streams`.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `recorder export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA", required_unless_present = "url")]
    pub data: Option<PathBuf>,
    /// Or a running recorder.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The folder to create for the export (must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Which calls.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `recorder policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to ask.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `recorder policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show what the policy decides for a call, and for a record button press.
    Explain {
        /// The configuration file (TOML).
        #[arg(long, env = "RECORDER_CONFIG")]
        config: Option<PathBuf>,
        /// The caller's number.
        #[arg(long)]
        caller: String,
        /// The called number.
        #[arg(long)]
        callee: String,
        /// The extension pressing the record button.
        #[arg(long)]
        user: Option<String>,
    },
}

/// `recorder serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data folder (created if missing).
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// Where to listen (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Mark the session cookie Secure (when a TLS proxy serves the journal over HTTPS).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Serve HTTPS: the certificate chain (PEM); needs --tls-key. Cookies are then Secure.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `recorder verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA", required_unless_present = "url")]
    pub data: Option<PathBuf>,
    /// Or a running recorder (an admin's login), which keeps the journal file to itself.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `recorder retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA")]
    pub data: PathBuf,
    /// The configuration file (TOML), for `[retention] days`.
    #[arg(long, env = "RECORDER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Keep this many days instead of the configured retention.
    #[arg(long)]
    pub days: Option<u32>,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// `recorder hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: HoldCommand,
}

/// `recorder hold ...`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Put a call under legal hold: retention keeps it until the hold is removed.
    Add {
        /// The call.
        #[command(flatten)]
        target: HoldTarget,
        /// Why it is kept (case, order); stored and audited.
        #[arg(long)]
        reason: String,
    },
    /// Lift a call's legal hold.
    Remove {
        /// The call.
        #[command(flatten)]
        target: HoldTarget,
        /// Why the hold ends (audited).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the calls under legal hold (id, Call-ID, since, by, reason).
    List {
        /// The data folder.
        #[arg(long, env = "RECORDER_DATA")]
        data: PathBuf,
    },
}

/// The call whose hold changes, and where: the journal file or a running recorder.
#[derive(Debug, Args)]
pub struct HoldTarget {
    /// The data folder.
    #[arg(long, env = "RECORDER_DATA", required_unless_present = "url")]
    pub data: Option<PathBuf>,
    /// Or a running recorder (an admin's login): it keeps the journal file to itself.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The call's journal id (`id` in `recorder calls --json`).
    pub call: i64,
}

/// `recorder user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `recorder user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a web user; the password is read from standard input (asked for without echo on
    /// a terminal).
    Add {
        /// The data folder.
        #[arg(long, env = "RECORDER_DATA")]
        data: PathBuf,
        /// Login name.
        name: String,
        /// admin (everything, manages users), supervisor (every call) or agent (own calls).
        #[arg(long)]
        role: String,
        /// The user's phone extension; an agent sees the calls where it is caller or callee.
        #[arg(long)]
        extension: Option<String>,
    },
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text)
        .ok_or_else(|| format!("'{text}' is not a time (use 2026-12-04 or 2026-12-04T17:00:00Z)"))
}

/// The end of a period: a plain date means the end of that day (`--from D --to D` is day D).
fn parse_end_time(text: &str) -> Result<Timestamp, String> {
    let start = parse_time(text)?;
    let plain_date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok();
    Ok(if plain_date {
        start + crate::time::Duration::from_secs(86_400)
    } else {
        start
    })
}

/// Reads a password: asked for without echo on a terminal, else the first line of standard
/// input (for scripts: `echo "$PW" | recorder user add ...`).
pub fn read_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    anyhow::ensure!(!password.is_empty(), "no password given");
    Ok(password)
}

/// A progress bar on standard error when it is a terminal (none in scripts and logs), with
/// an indicatif template such as `"{msg} [{bar:30}] {pos}/{len}"`.
pub fn progress_bar(total: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || total == 0 {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(style);
    Some(bar)
}

/// Loads the configuration file, or the defaults when none is given.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Calls(args) => calls::run(&args),
        Command::Streams(args) => streams::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Policy(args) => policy::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::User(args) => user::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Retention(args) => retention::run(&args),
        Command::Hold(args) => hold::run(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_as_the_end_includes_that_day() {
        let from = parse_time("2018-04-09").unwrap();
        let to = parse_end_time("2018-04-09").unwrap();
        assert_eq!(to.since(from).as_micros(), 86_400_000_000);
        let exact = parse_end_time("2018-04-09T12:00:00Z").unwrap();
        assert_eq!(exact.since(from).as_micros(), 12 * 3_600_000_000);
    }

    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let period = |from: &str, to: &str| FilterArgs {
            from: Some(parse_time(from).unwrap()),
            to: Some(parse_end_time(to).unwrap()),
            number: None,
            recorded_only: false,
        };
        assert!(period("2018-04-09", "2018-04-09").check().is_ok());
        assert!(period("2018-04-10", "2018-04-09").check().is_err());
    }
}
