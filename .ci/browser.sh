#!/usr/bin/env bash
# Install Debian's Chromium and its ChromeDriver for the console's browser tests.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
fi
chromium --version >&2
