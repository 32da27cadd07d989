//! The peers, on the same data in the same run: tshark computing SIP statistics and RTP
//! stream analysis of the throughput capture (what the import does with recording off), and
//! opusenc encoding as much stereo 8 kHz audio as the import with recording on recorded.

use std::io::Write;
use std::process::Command;

use anyhow::{Context, bail};

use super::Bench;
use super::import::Throughput;
use super::measure;
use super::report::{table, thousands};
use crate::traffic::{self, audio::Bank};

/// What the peers cost.
pub struct Peers {
    /// tshark runs.
    pub tshark: measure::Summary,
    /// opusenc runs.
    pub opusenc: measure::Summary,
    /// Seconds of audio given to opusenc.
    pub opus_seconds: f64,
}

/// RTP streams and SIP messages tshark's statistics list.
fn tshark_counts(stdout: &str) -> (usize, u64) {
    let streams = stdout.split("RTP Streams").nth(1).map_or(0, |rest| {
        rest.lines()
            .skip(2)
            .take_while(|l| !l.starts_with('='))
            .filter(|l| !l.trim().is_empty())
            .count()
    });
    let messages = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Number of SIP messages: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (streams, messages)
}

/// Writes a WAV of `seconds` of the throughput capture's call audio (caller left, callee
/// right, call after call), made with sox from raw PCM.
fn wav(bench: &Bench, t: &Throughput, seconds: f64) -> anyhow::Result<std::path::PathBuf> {
    let raw_path = bench.work.join("audio.raw");
    let wav_path = bench.work.join("audio.wav");
    let mut raw = std::io::BufWriter::new(std::fs::File::create(&raw_path)?);
    let bank = Bank::new(t.options.seed);
    let mut left = (seconds * 8000.0) as usize;
    let mut call = 0;
    while left > 0 {
        let audio = traffic::call_audio_with(&t.options, &bank, call % t.options.calls);
        let take = (audio.len() / 2).min(left);
        for sample in &audio[..take * 2] {
            raw.write_all(&sample.to_le_bytes())?;
        }
        left -= take;
        call += 1;
    }
    raw.flush()?;
    drop(raw);
    measure::run(
        Command::new("sox")
            .args([
                "-t",
                "raw",
                "-r",
                "8000",
                "-e",
                "signed-integer",
                "-b",
                "16",
                "-c",
                "2",
            ])
            .arg(&raw_path)
            .arg(&wav_path),
    )
    .context("sox (Debian package sox)")?;
    std::fs::remove_file(&raw_path).ok();
    Ok(wav_path)
}

/// Runs tshark and opusenc.
pub fn run(bench: &mut Bench, t: &Throughput) -> anyhow::Result<Peers> {
    let mut tshark = Vec::new();
    for _ in 0..bench.sizes.runs {
        let mut cmd = Command::new("tshark");
        cmd.args(["-q", "-r"])
            .arg(&t.capture)
            .args(["-z", "sip,stat", "-z", "rtp,streams"]);
        let m = measure::run(&mut cmd).context("tshark (Debian package tshark)")?;
        let (streams, messages) = tshark_counts(&m.stdout);
        if streams != 2 * t.summary.calls.len() || messages != t.summary.sip_messages {
            bail!("tshark found {streams} RTP streams and {messages} SIP messages");
        }
        eprintln!("tshark: {:.2} s CPU, {:.2} s wall", m.cpu(), m.wall);
        bench.report.command("tshark", &m.command);
        tshark.push(m);
    }

    let wav = wav(bench, t, t.audio_seconds)?;
    bench.report.command(
        "the WAV for opusenc (its raw audio is the capture's calls, decoded, from the generator)",
        &format!(
            "sox -t raw -r 8000 -e signed-integer -b 16 -c 2 audio.raw {}",
            wav.display()
        ),
    );
    let mut opusenc = Vec::new();
    for _ in 0..bench.sizes.slow_runs {
        let mut cmd = Command::new("opusenc");
        cmd.args(["--quiet", "--comp", "0", "--bitrate", "32"])
            .arg(&wav)
            .arg(bench.work.join("audio.opus"));
        let m = measure::run(&mut cmd).context("opusenc (Debian package opus-tools)")?;
        eprintln!("opusenc: {:.2} s CPU, {:.2} s wall", m.cpu(), m.wall);
        bench.report.command("opusenc", &m.command);
        opusenc.push(m);
    }
    std::fs::remove_file(&wav).ok();
    let peers = Peers {
        tshark: measure::Summary::of(&tshark),
        opusenc: measure::Summary::of(&opusenc),
        opus_seconds: t.audio_seconds,
    };

    let rows = vec![
        vec![
            format!(
                "SIP statistics and RTP stream analysis of the {}-packet capture",
                thousands(t.summary.frames as f64)
            ),
            "`tshark -q -z sip,stat -z rtp,streams`".into(),
            format!("{:.2} s", peers.tshark.cpu),
            format!("{:.2} s", peers.tshark.wall),
            format!("{:.2} s", t.off.cpu),
            format!("{:.2}x", peers.tshark.cpu / t.off.cpu),
        ],
        vec![
            format!(
                "Opus encoding of {:.0} s of 8 kHz stereo audio",
                t.audio_seconds
            ),
            "`opusenc --comp 0 --bitrate 32`".into(),
            format!("{:.2} s", peers.opusenc.cpu),
            format!("{:.2} s", peers.opusenc.wall),
            format!("{:.2} s", t.on.cpu),
            format!("{:.2}x", peers.opusenc.cpu / t.on.cpu),
        ],
    ];
    let body = format!(
        "The same jobs by other tools, in the same run. tshark reads the throughput capture and \
         lists every SIP message and RTP stream (it found all {} streams), which is what the \
         import does with recording off, minus the journal. opusenc encodes a WAV of the \
         capture's own call audio, as long as what the import with recording on wrote, with \
         its fastest setting and our bitrate; it reads 8 kHz but libopusenc resamples to 48 kHz \
         before encoding, while we encode at 8 kHz. The ratio is the peer's CPU time over \
         ours: above 1, we are faster.\n\n{}",
        2 * t.summary.calls.len(),
        table(
            &["job", "peer", "peer CPU", "peer wall", "our CPU", "ratio"],
            &rows
        )
    );
    bench.report.section("Peers", body);
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tshark_streams() {
        let text = "=== RTP Streams ===\n   Start time  End\n  1 a\n  2 b\n=====\n\n=====\n\
                    SIP Statistics\n\nNumber of SIP messages: 800\n";
        assert_eq!(tshark_counts(text), (2, 800));
    }
}
