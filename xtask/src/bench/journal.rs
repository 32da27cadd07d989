//! The journal at scale: a million synthetic calls bulk-inserted with SQL (a bench-only
//! helper, bypassing the pipeline), then `recorder calls --limit 50` with and without
//! filters, and the same queries through the library (`JournalReader::calls`), as the web
//! journal would run them on an open connection.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use recorder::journal::{CallFilter, Journal, JournalReader};
use recorder::time::Timestamp;

use super::Bench;
use super::measure::{self, median};
use super::report::{Target, table, thousands};

/// The first synthetic call starts 2026-09-05 00:00 UTC, µs.
const START_US: i64 = 1_788_566_400_000_000;

/// The synthetic calls are spread over this many days.
const DAYS: i64 = 90;

/// One query's timings.
pub struct Query {
    /// What it asks.
    pub name: String,
    /// The `recorder calls` arguments after `--data DIR`, if the CLI can ask it.
    pub cli_args: Option<Vec<String>>,
    /// Median wall seconds of the CLI.
    pub cli_wall: Option<f64>,
    /// Median seconds of the library call.
    pub library: f64,
    /// Seconds of the first library call (cold caches).
    pub library_first: f64,
    /// Calls it returned.
    pub found: usize,
}

/// What the journal part found.
pub struct JournalBench {
    /// Calls in the journal.
    pub calls: u64,
    /// Seconds the bulk insert took.
    pub build_seconds: f64,
    /// The journal's size on disk, bytes.
    pub bytes: u64,
    /// Per query.
    pub queries: Vec<Query>,
}

/// DuckDB's version, from a throwaway journal.
pub fn duckdb_version(work: &Path) -> anyhow::Result<String> {
    let dir = work.join("duckdb-version");
    let _ = std::fs::remove_dir_all(&dir);
    let journal = Journal::open(&dir)?;
    let version: String = journal
        .connection()
        .query_row("SELECT version()", [], |r| r.get(0))?;
    drop(journal);
    std::fs::remove_dir_all(&dir).ok();
    Ok(version)
}

/// The SQL that fills an empty journal with `n` finished calls: 80% answered with two
/// streams, the rest busy or cancelled; every fifth recorded with one segment; one decision
/// each; agents 2000-2099 against external numbers, half inbound, half outbound.
fn fill_sql(n: u64) -> String {
    let step = DAYS * 86_400_000_000 / n as i64;
    let start = format!("({START_US} + i * {step})");
    let external = "'+4930' || lpad(((i * 7919) % 100000000)::VARCHAR, 8, '0')";
    let agent = "(2000 + i % 100)::VARCHAR";
    format!(
        "INSERT INTO calls (id, call_id, caller, callee, direction, started_us, answered_us, \
           ended_us, disposition, end_reason, final_status, state, recorded, verdict, decision, \
           user_agent, joined_midway, rtcp_packets, other_media_packets, dropped_messages, \
           capture_lost)
         SELECT i, 'bench-' || i || '@10.0.0.1',
           CASE WHEN i % 2 = 0 THEN {agent} ELSE {external} END,
           CASE WHEN i % 2 = 0 THEN {external} ELSE {agent} END,
           CASE WHEN i % 2 = 0 THEN 'outbound' ELSE 'inbound' END,
           {start},
           CASE WHEN i % 10 < 8 THEN {start} + 3000000 END,
           {start} + 3000000 + (i % 600) * 1000000,
           CASE WHEN i % 10 < 8 THEN 'answered' WHEN i % 10 = 8 THEN 'busy' ELSE 'cancelled' END,
           CASE WHEN i % 10 < 8 THEN 'bye' ELSE 'final_response' END,
           CASE WHEN i % 10 < 8 THEN 200 WHEN i % 10 = 8 THEN 486 ELSE 487 END,
           'finished', i % 5 = 0, 'on-demand', 'default mode: on demand', 'bench', false,
           0, 0, 0, 0
         FROM range(1, {n} + 1) t(i);
         INSERT INTO streams
         SELECT id, '10.16.0.1:' || (16384 + p * 2), '10.32.0.1:' || (20384 - p * 2),
           (id * 2 + p) % 4294967296, CASE WHEN p = 0 THEN 'caller' ELSE 'callee' END, 'PCMU',
           (ended_us - answered_us) / 20000, 0, 0.5, 0, NULL, answered_us, ended_us
         FROM calls, range(2) s(p) WHERE answered_us IS NOT NULL;
         INSERT INTO segments
         SELECT id, id, 1, answered_us, ended_us, 'policy',
           'recordings/2026/09/05/' || id || '.opus', repeat('0', 64), 1000, 'complete',
           (ended_us - answered_us) / 20000, (ended_us - answered_us) / 20000
         FROM calls WHERE recorded;
         INSERT INTO decisions
         SELECT id, started_us, 'on-demand', 'default mode: on demand' FROM calls;
         CHECKPOINT;"
    )
}

/// Builds the journal and times the queries.
pub fn run(bench: &mut Bench) -> anyhow::Result<JournalBench> {
    let n = bench.sizes.journal_calls;
    let dir = bench.fresh_dir("journal")?;
    let started = Instant::now();
    {
        let journal = Journal::open(&dir)?;
        journal
            .connection()
            .execute_batch(&fill_sql(n))
            .context("filling the synthetic journal")?;
    }
    let build_seconds = started.elapsed().as_secs_f64();
    bench.report.command(
        "journal: the synthetic calls (`fill_sql` in xtask/src/bench/journal.rs)",
        &format!("INSERT INTO calls ... FROM range(1, {n} + 1) t(i); INSERT INTO streams ..."),
    );
    let bytes = std::fs::metadata(dir.join("journal.duckdb"))?.len();
    eprintln!("journal of {n} calls built in {build_seconds:.1} s");

    // A day in the middle of the 90, a busy agent, one external number, an area prefix.
    let day = START_US + DAYS / 2 * 86_400_000_000;
    let (from, to) = (
        Timestamp::from_micros(day),
        Timestamp::from_micros(day + 86_400_000_000),
    );
    let day_text = (from.to_rfc3339(), to.to_rfc3339());
    let one_number = format!("+4930{:08}", (n / 2 + 1) * 7919 % 100_000_000);
    let offset = n / 2;
    let offset_name = format!(
        "page {} (offset {}; library only)",
        thousands((offset / 50 + 1) as f64),
        thousands(offset as f64)
    );
    let base = CallFilter {
        limit: Some(50),
        ..CallFilter::default()
    };
    let cases: Vec<(&str, CallFilter, Option<Vec<String>>)> = vec![
        ("newest 50", base.clone(), Some(vec![])),
        (
            "--number 2042 (an agent, 1% of calls)",
            CallFilter {
                number: Some("2042".into()),
                ..base.clone()
            },
            Some(vec!["--number".into(), "2042".into()]),
        ),
        (
            "--number of one external party (1 call)",
            CallFilter {
                number: Some(one_number.clone()),
                ..base.clone()
            },
            Some(vec!["--number".into(), one_number.clone()]),
        ),
        (
            "--number '+49301234*' (a prefix)",
            CallFilter {
                number: Some("+49301234*".into()),
                ..base.clone()
            },
            Some(vec!["--number".into(), "+49301234*".into()]),
        ),
        (
            "--from/--to one day",
            CallFilter {
                from: Some(from),
                to: Some(to),
                ..base.clone()
            },
            Some(vec![
                "--from".into(),
                day_text.0.clone(),
                "--to".into(),
                day_text.1.clone(),
            ]),
        ),
        (
            "--recorded-only",
            CallFilter {
                recorded_only: true,
                ..base.clone()
            },
            Some(vec!["--recorded-only".into()]),
        ),
        (
            "--number 2042 --from/--to one day",
            CallFilter {
                number: Some("2042".into()),
                from: Some(from),
                to: Some(to),
                ..base.clone()
            },
            Some(vec![
                "--number".into(),
                "2042".into(),
                "--from".into(),
                day_text.0.clone(),
                "--to".into(),
                day_text.1.clone(),
            ]),
        ),
        (
            offset_name.as_str(),
            CallFilter {
                offset: Some(offset as u32),
                ..base.clone()
            },
            None,
        ),
    ];

    let runs = bench.sizes.runs.max(3);
    let reader = JournalReader::open(&dir)?;
    let mut queries = Vec::new();
    for (name, filter, cli_args) in cases {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..runs {
            let t = Instant::now();
            found = reader.calls(&filter)?.len();
            times.push(t.elapsed().as_secs_f64());
        }
        let library_first = times[0];
        let library = median(&times);
        queries.push(Query {
            name: name.to_string(),
            cli_args,
            cli_wall: None,
            library,
            library_first,
            found,
        });
    }
    drop(reader);
    for query in &mut queries {
        let Some(args) = &query.cli_args else {
            continue;
        };
        let mut walls = Vec::new();
        for _ in 0..runs {
            let mut cmd = Command::new(&bench.recorder);
            cmd.arg("calls")
                .arg("--data")
                .arg(&dir)
                .args(["--limit", "50"])
                .args(args);
            let m = measure::run(&mut cmd)?;
            bench
                .report
                .command(&format!("journal: {}", query.name), &m.command);
            walls.push(m.wall);
        }
        query.cli_wall = Some(median(&walls));
    }

    let result = JournalBench {
        calls: n,
        build_seconds,
        bytes,
        queries,
    };
    let ms = |s: f64| format!("{:.1} ms", s * 1000.0);
    let rows: Vec<Vec<String>> = result
        .queries
        .iter()
        .map(|q| {
            vec![
                q.name.clone(),
                q.found.to_string(),
                ms(q.library),
                ms(q.library_first),
                q.cli_wall.map_or("-".into(), ms),
            ]
        })
        .collect();
    let body = format!(
        "A journal of {} finished calls over {DAYS} days (with {} streams, a segment for every \
         fifth call and a decision each; the SIP message table left empty, as no list query \
         reads it), {:.0} MB on disk, bulk-inserted with SQL in {:.1} s. Each query asks for \
         the newest 50 matching calls with their segments, streams and decisions. Library: \
         `JournalReader::calls` on an open read-only connection, median of {runs} (and the \
         first, cold). CLI: `recorder calls --data DIR --limit 50 ...`, wall time of the whole \
         process (start, open the journal, query, print), median of {runs}.\n\n{}",
        thousands(n as f64),
        thousands((n as f64 * 0.8 * 2.0).round()),
        bytes as f64 / 1e6,
        build_seconds,
        table(
            &[
                "query",
                "calls listed",
                "library",
                "library, first",
                "CLI wall"
            ],
            &rows
        )
    );
    bench.report.section("Journal queries", body);
    Ok(result)
}

/// The journal row of the targets table.
pub fn targets(bench: &mut Bench, j: &JournalBench) {
    // First pages (what `recorder calls --limit 50` asks) decide; the deep page is noted.
    let first_pages: Vec<&Query> = j.queries.iter().filter(|q| q.cli_args.is_some()).collect();
    let slowest = |key: &dyn Fn(&Query) -> f64| {
        first_pages
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .map(|q| (key(q), q.name.clone()))
    };
    let (Some((library, library_name)), Some((cli, cli_name))) = (
        slowest(&|q| q.library),
        slowest(&|q| q.cli_wall.unwrap_or(0.0)),
    ) else {
        return;
    };
    let overhead: Vec<f64> = first_pages
        .iter()
        .filter_map(|q| Some(q.cli_wall? - q.library))
        .collect();
    let deep = j.queries.iter().find(|q| q.cli_args.is_none());
    bench.report.target(Target {
        target: format!(
            "journal list/filter queries < 100 ms at {} calls",
            thousands(j.calls as f64)
        ),
        measured: format!(
            "slowest first page: library {:.0} ms ({library_name}), CLI {:.0} ms ({cli_name}){}",
            library * 1000.0,
            cli * 1000.0,
            deep.map_or(String::new(), |q| format!(
                "; {}: {:.0} ms",
                q.name,
                q.library * 1000.0
            ))
        ),
        met: Some(library < 0.1 && cli < 0.1),
        note: format!(
            "no index: a number filter is a LIKE over caller and callee of every row, a deep \
             page sorts them all; the CLI adds about {:.0} ms (process start, opening the \
             journal, printing)",
            median(&overhead) * 1000.0
        ),
    });
}
