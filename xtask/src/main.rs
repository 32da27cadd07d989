//! Build and maintenance helpers: `cargo xtask <command>`.

use std::process::Command;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("oracle") => oracle(),
        _ => {
            eprintln!("usage: cargo xtask <command>\n");
            eprintln!("commands:");
            eprintln!("  oracle   regenerate tests/fixtures/oracle/*.json with tshark");
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
