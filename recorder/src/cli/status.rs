//! `recorder status`: what the running recorder reports in its status file.

use std::process::ExitCode;

use anyhow::Context;

use super::StatusArgs;
use super::run::{STATUS_FILE, Status};

/// Runs `recorder status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let path = args.data.join(STATUS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no recorder has run with --data {}", args.data.display()))?;
    let status: Status =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    if args.json {
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let running = status.stopped_at.is_none() && process_alive(status.pid);
    let state = match (&status.stopped_at, running) {
        (Some(at), _) => format!("stopped at {at}"),
        (None, true) => format!("running (pid {})", status.pid),
        (None, false) => format!(
            "not running (pid {} is gone; last status {})",
            status.pid, status.updated_at
        ),
    };
    println!("recorder:      {state}");
    println!("capture:       {}", status.source);
    println!("since:         {}", status.started_at);
    println!(
        "frames:        {} seen, {} to userspace",
        status.frames_seen, status.frames_delivered
    );
    println!("capture loss:  {} frames", status.capture_lost);
    println!(
        "calls:         {} active, {} finished, {} recorded",
        status.active_calls, status.calls_finished, status.calls_recorded
    );
    println!("SIP messages:  {}", status.sip_messages);
    if let Some(web) = &status.web {
        println!("web journal:   {web}");
    }
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}
