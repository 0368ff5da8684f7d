#!/usr/bin/env bash
# The UI tests drive Debian's Chromium (Playwright never downloads a browser here).
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
elif command -v sudo >/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "The UI tests need Debian's chromium: run 'apt-get install chromium' as root." >&2
  exit 1
fi
