#!/usr/bin/env node
//! Opens a player page that reports on `window.shieldpackState` (the page of
//! `shieldpack serve`) in Debian's headless chromium, and waits for it to
//! play to the end, fail, or time out.
//!
//! usage: node page.mjs PAGE_URL [--timeout-ms N]
//!
//! Prints ONE JSON line: the page's state ({player, src, playing, ended,
//! error}) plus decodedFrames, pageErrors and timedOut; exits 0 when the video
//! ended with no error, 1 otherwise, 2 when chromium did not start. Unlike
//! play.mjs it injects nothing: the page brings its own player, which is
//! what this tests. Chromium flags as in play.mjs.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const url = args[0];
let timeoutMs = 90000;
const t = args.indexOf('--timeout-ms');
if (t >= 0) timeoutMs = Number(args[t + 1]);
if (!url || !(timeoutMs > 0)) {
  process.stderr.write('usage: node page.mjs PAGE_URL [--timeout-ms N]\n');
  process.exit(2);
}

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

const userDataDir = mkdtempSync(join(tmpdir(), 'shieldpack-chromium-'));
let context;
let code = 1;
try {
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SHIELDPACK_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30000,
    });
  } catch (e) {
    process.stdout.write(JSON.stringify({ ended: false, launchError: String(e.message || e).split('\n')[0] }) + '\n');
    process.exit(2);
  }
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  const deadline = Date.now() + timeoutMs;
  let state = null;
  for (;;) {
    state = await page.evaluate(() => {
      const s = window.shieldpackState ? { ...window.shieldpackState } : null;
      const v = document.querySelector('video');
      const q = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
      if (s) s.decodedFrames = q ? q.totalVideoFrames : null;
      return s;
    });
    if (state && (state.ended || state.error)) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const result = { ...(state || { ended: false, error: 'the page has no window.shieldpackState' }), pageErrors, timedOut: !(state && (state.ended || state.error)) };
  code = result.ended && !result.error ? 0 : 1;
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
