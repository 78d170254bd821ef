#!/usr/bin/env bash
# Render docs/walkthrough.html in headless Chromium and save a screenshot to look at:
#   tools/screenshot_walkthrough.sh [OUT.png]      (Debian: apt-get install chromium)
# tests/test_walkthrough.py runs the same check, and skips where no chromium is installed.
set -euo pipefail
out="${1:-walkthrough.png}"
root="$(cd "$(dirname "$0")/.." && pwd)"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,2400 \
  --screenshot="$out" "file://$root/docs/walkthrough.html"
echo "screenshot: $out"
