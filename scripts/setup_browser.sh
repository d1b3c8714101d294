#!/bin/sh
# The browser tests' system packages: Debian's Chromium (driven by Playwright for Python, no browser
# download) and a CJK font (without one every Chinese character renders as an empty box).
# Idempotent: installs only what is missing. Needs root (or sudo) when something is missing.
set -eu

missing=""
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="$missing chromium"
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing="$missing fonts-wqy-microhei"

if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "setup_browser: need root to install:$missing (apt-get install -y$missing)" >&2
        exit 1
    fi
    echo "setup_browser: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

/usr/bin/chromium --version 2>/dev/null | head -1 || { echo "setup_browser: /usr/bin/chromium does not run" >&2; exit 1; }
fc-list :lang=zh family 2>/dev/null | grep -q . || { echo "setup_browser: no CJK font found by fc-list" >&2; exit 1; }
