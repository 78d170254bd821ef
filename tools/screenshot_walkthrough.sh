#!/usr/bin/env bash
# Render docs/walkthrough.html in headless Chromium to look at, as a projector shows it or printed:
#   tools/screenshot_walkthrough.sh [OUT.png [WIDTH [HEIGHT]]]   a screenshot, 1280 x 2400 by default
#   tools/screenshot_walkthrough.sh OUT.pdf                       the page printed (@media print)
# (Debian: apt-get install chromium). tests/test_walkthrough_browser.py checks the same page in the
# same browser, and skips where no chromium is installed.
set -euo pipefail
out="${1:-walkthrough.png}"
root="$(cd "$(dirname "$0")/.." && pwd)"
page="file://$root/docs/walkthrough.html"
chrome=(chromium --headless --no-sandbox --disable-gpu)
if [[ "$out" == *.pdf ]]; then
  "${chrome[@]}" --no-pdf-header-footer --print-to-pdf="$out" "$page" 2>/dev/null
  echo "printed: $out"
else
  "${chrome[@]}" --hide-scrollbars --window-size="${2:-1280},${3:-2400}" --screenshot="$out" \
    "$page" 2>/dev/null
  echo "screenshot: $out"
fi
