# Headless Chromium from Debian for the Playwright browser tests (tests/browser/).
# Idempotent and quiet; sourced by scripts/test.sh (root, Debian). Never runs `playwright install`.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (export DEBIAN_FRONTEND=noninteractive
     apt-get update -qq >/dev/null 2>&1 || true
     apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1) \
      || echo "ci-setup 30-chromium: could not install chromium; browser tests will be skipped" >&2
  fi
fi
