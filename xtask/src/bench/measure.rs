//! Running a command and measuring it: wall time, CPU time (user and system, all threads) and
//! peak resident memory, all from wait4(2) on the process itself.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, bail};

/// What one run of a command cost.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// The command line.
    pub command: String,
    /// Wall-clock seconds.
    pub wall: f64,
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub sys: f64,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Measured {
    /// User plus system CPU seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }
}

/// A started command whose output is being collected.
pub struct Running {
    child: Child,
    started: Instant,
    what: String,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

/// The command as a shell line, for the report and error messages.
pub fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') || arg.contains('*') {
            line.push_str(&format!(" '{arg}'"));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    line
}

/// Starts a command with its output collected.
pub fn spawn(cmd: &mut Command) -> anyhow::Result<Running> {
    let what = describe(cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let stdout = collect(child.stdout.take().expect("piped"));
    let stderr = collect(child.stderr.take().expect("piped"));
    Ok(Running {
        child,
        started,
        what,
        stdout,
        stderr,
    })
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to this process (and only this one).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid; it has not been reaped, so the pid is ours.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits for the process; fails unless it exited with status 0.
    pub fn wait(self) -> anyhow::Result<Measured> {
        let (code, measured) = self.wait_any()?;
        if code != 0 {
            let tail: String = measured
                .stderr
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ");
            bail!("{} exited with {code}: {tail}", measured.command);
        }
        Ok(measured)
    }

    /// Waits for the process; returns its exit code (128 + signal if killed) and the cost.
    pub fn wait_any(self) -> anyhow::Result<(i32, Measured)> {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: waiting for our own child, with valid pointers.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped != pid {
            bail!(
                "waiting for {}: {}",
                self.what,
                std::io::Error::last_os_error()
            );
        }
        let wall = self.started.elapsed().as_secs_f64();
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        let text = |h: JoinHandle<Vec<u8>>| {
            String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
        };
        let measured = Measured {
            command: self.what,
            wall,
            user: seconds(usage.ru_utime),
            sys: seconds(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
            stdout: text(self.stdout),
            stderr: text(self.stderr),
        };
        Ok((code, measured))
    }
}

/// Runs a command to the end; fails unless it exited with status 0.
pub fn run(cmd: &mut Command) -> anyhow::Result<Measured> {
    spawn(cmd)?.wait()
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Medians of wall, user, system and CPU time, and the largest peak RSS, of repeated runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Runs.
    pub runs: usize,
    /// Median wall seconds.
    pub wall: f64,
    /// Median user + system seconds.
    pub cpu: f64,
    /// Smallest user + system seconds.
    pub cpu_min: f64,
    /// Largest user + system seconds.
    pub cpu_max: f64,
    /// Largest peak RSS, KiB.
    pub max_rss_kib: u64,
}

impl Summary {
    /// Summarizes runs.
    pub fn of(runs: &[Measured]) -> Summary {
        let cpu: Vec<f64> = runs.iter().map(Measured::cpu).collect();
        let wall: Vec<f64> = runs.iter().map(|m| m.wall).collect();
        Summary {
            runs: runs.len(),
            wall: median(&wall),
            cpu: median(&cpu),
            cpu_min: cpu.iter().copied().fold(f64::INFINITY, f64::min),
            cpu_max: cpu.iter().copied().fold(0.0, f64::max),
            max_rss_kib: runs.iter().map(|m| m.max_rss_kib).max().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn measures_a_child() {
        let m = run(Command::new("sh").args([
            "-c",
            "echo hi; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
        ]))
        .unwrap();
        assert_eq!(m.stdout, "hi\n");
        assert!(m.cpu() > 0.0 && m.max_rss_kib > 0, "{m:?}");
        assert!(run(&mut Command::new("false")).is_err());
    }
}
