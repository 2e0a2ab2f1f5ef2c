# Sourced by .ci/run (under `set -euo pipefail`) before the tests: Debian's Chromium and
# its chromedriver for the browser tests (tests/test_browser.py, Selenium, no browser
# downloads). Idempotent: installs only what is missing; safe to source twice.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  _cb_sudo=""
  if [ "$(id -u)" -ne 0 ]; then _cb_sudo="sudo"; fi
  $_cb_sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $_cb_sudo apt-get install -y -q chromium chromium-driver
  unset _cb_sudo
fi
echo "browser: $(chromium --version 2>/dev/null || echo 'chromium missing'); $(chromedriver --version 2>/dev/null || echo 'chromedriver missing')"
