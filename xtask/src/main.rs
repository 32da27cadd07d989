//! Build and maintenance helpers: `cargo xtask <command>`.

use std::process::Command;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("oracle") => oracle(),
        Some("rewrite") => rewrite(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <command>\n");
            eprintln!("commands:");
            eprintln!("  oracle   regenerate tests/fixtures/oracle/*.json with tshark");
            eprintln!("  rewrite KIND IN.pcap OUT.pcap");
            eprintln!("           carry a capture's calls differently; KIND is one of:");
            eprintln!("           {}", tests::rewrite::KINDS.join(", "));
            bail!("no command given");
        }
    }
}

/// Regenerates what Wireshark sees in each fixture capture (needs tshark).
fn oracle() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(root.join("tests/oracle/regenerate.sh"))
        .status()
        .context("running tests/oracle/regenerate.sh")?;
    if !status.success() {
        bail!("regenerate.sh failed ({status})");
    }
    Ok(())
}

/// Writes a variant of a capture (see `tests::rewrite`).
fn rewrite(args: &[String]) -> anyhow::Result<()> {
    let [kind, input, output] = args else {
        bail!("usage: cargo xtask rewrite KIND IN.pcap OUT.pcap");
    };
    let pcap = tests::pcap_edit::Pcap::read(std::path::Path::new(input));
    let variant = tests::rewrite::apply(kind, &pcap).with_context(|| {
        format!(
            "unknown kind {kind}; one of: {}",
            tests::rewrite::KINDS.join(", ")
        )
    })?;
    variant.write(std::path::Path::new(output));
    eprintln!("wrote {output}: {} frames", variant.records.len());
    Ok(())
}
