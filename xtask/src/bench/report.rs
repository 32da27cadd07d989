//! The benchmark report: sections of Markdown printed as they finish, the targets of the
//! performance issue against what was measured, and BENCHMARKS.md at the end.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

/// One target of the issue, and what this run measured.
#[derive(Clone, Debug)]
pub struct Target {
    /// The target, in words.
    pub target: String,
    /// The measured value, in words.
    pub measured: String,
    /// Whether it is met (`None`: not measured in this run).
    pub met: Option<bool>,
    /// What bounds it where not met, or a caveat.
    pub note: String,
}

/// Everything the run found.
#[derive(Debug, Default)]
pub struct Report {
    sections: Vec<(String, String)>,
    targets: Vec<Target>,
    commands: Vec<(String, String)>,
}

impl Report {
    /// Adds a section and prints it.
    pub fn section(&mut self, title: &str, body: String) {
        println!("\n## {title}\n\n{body}");
        self.sections.push((title.to_string(), body));
    }

    /// Notes a command the report's figures come from (the first of each kind).
    pub fn command(&mut self, what: &str, line: &str) {
        if !self.commands.iter().any(|(w, _)| w == what) {
            self.commands.push((what.to_string(), line.to_string()));
        }
    }

    /// Adds a target.
    pub fn target(&mut self, target: Target) {
        self.targets.push(target);
    }

    /// The targets table.
    pub fn targets_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                let met = match t.met {
                    Some(true) => "met",
                    Some(false) => "not met",
                    None => "-",
                };
                vec![
                    t.target.clone(),
                    t.measured.clone(),
                    met.to_string(),
                    t.note.clone(),
                ]
            })
            .collect();
        table(&["Target", "Measured", "", "What bounds it"], &rows)
    }

    /// Writes the whole report as Markdown.
    pub fn write(&self, path: &Path, preamble: &str) -> anyhow::Result<()> {
        let mut out = String::new();
        out.push_str(preamble);
        for (title, body) in &self.sections {
            let _ = write!(out, "\n## {title}\n\n{body}");
        }
        let _ = write!(out, "\n## Targets\n\n{}", self.targets_table());
        // Earlier runs' figures, kept by hand: each run rewrites everything else.
        let _ = write!(out, "\n{}", include_str!("history.md"));
        out.push_str(
            "\n## Commands\n\nThe exact commands behind the figures (paths are this run's):\n\n",
        );
        for (what, line) in &self.commands {
            let _ = write!(out, "- {what}:\n\n  ```sh\n  {line}\n  ```\n\n");
        }
        std::fs::write(path, wrap(&out, 100))?;
        Ok(())
    }
}

/// Wraps the prose lines of Markdown at `width` columns (tables, headings, lists and code
/// stay as they are), so the report reads and diffs well.
pub fn wrap(markdown: &str, width: usize) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut in_code = false;
    for line in markdown.lines() {
        let fence = line.trim_start().starts_with("```");
        if fence {
            in_code = !in_code;
        }
        let prose = !in_code
            && !fence
            && !line.starts_with(['|', '#', '-', ' '])
            && line.chars().count() > width;
        if !prose {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}

/// A Markdown table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// A number with thousands separators.
pub fn thousands(n: f64) -> String {
    let whole = n.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 {
        out.insert(0, '-');
    }
    out
}

/// The first line a command prints (stdout, else stderr), or why there is none.
pub fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("Running as user"))
                .unwrap_or("")
                .trim()
                .to_string()
        }
        Err(err) => format!("not available ({err})"),
    }
}

/// The machine: cores, CPU model, kernel, memory, load, and the tools' versions.
pub fn machine(duckdb_version: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map_or("unknown".into(), |v| {
            let kib: f64 = v.trim().trim_end_matches(" kB").parse().unwrap_or(0.0);
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rows = vec![
        vec!["cores (nproc)".into(), cores.to_string()],
        vec!["CPU".into(), model],
        vec!["memory".into(), memory],
        vec!["kernel".into(), kernel.trim().to_string()],
        vec![
            "load average at start".into(),
            load.split(' ').take(3).collect::<Vec<_>>().join(" "),
        ],
        vec!["rustc".into(), first_line("rustc", &["-V"])],
        vec!["DuckDB".into(), duckdb_version.to_string()],
        vec![
            "libopus (pkg-config)".into(),
            first_line("pkg-config", &["--modversion", "opus"]),
        ],
        vec!["tshark".into(), first_line("tshark", &["--version"])],
        vec!["opusenc".into(), first_line("opusenc", &["--version"])],
        vec!["sox".into(), first_line("sox", &["--version"])],
        vec!["tcpreplay".into(), first_line("tcpreplay", &["--version"])],
        vec!["valgrind".into(), first_line("valgrind", &["--version"])],
    ];
    table(&["", ""], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(
            wrap("aaa bbb ccc\n| x y z |\n", 7),
            "aaa bbb\nccc\n| x y z |\n"
        );
        let t = table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
