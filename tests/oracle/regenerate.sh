#!/usr/bin/env bash
# Regenerates tests/fixtures/oracle/*.json: what Wireshark (tshark) sees in each fixture
# capture, as printed by the wireshark-facts oracle next to this script. The JSON files are
# committed, so the comparison tests need no tshark; run this after adding a capture, and
# review the diff. Needs: tshark, python3 (see wireshark-facts' header).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../fixtures"
tshark --version | head -n 1
for capture in "$fixtures"/captures/*.pcap "$fixtures"/captures/*.pcapng; do
    name=$(basename "$capture")
    "$here/wireshark-facts" "$capture" > "$fixtures/oracle/$name.json"
    echo "wrote oracle/$name.json"
done
