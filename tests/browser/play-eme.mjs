#!/usr/bin/env node
//! Plays a DASH or HLS package with Shaka Player or dash.js, with ClearKey EME
//! when keys are given, in Debian's headless chromium (the sibling of
//! play.mjs, which drives hls.js; same page trick, same JSON summary).
//!
//! usage: node play-eme.mjs URL --player shaka|dashjs [--clearkey KIDHEX:KEYHEX]...
//!        [--timeout-ms N] [--rate R]
//!
//! Prints ONE JSON line on stdout:
//!   {"ended", "duration", "currentTime", "segmentsLoaded", "errors",
//!    "decodedFrames", "droppedFrames", "player", "timedOut"}
//! and exits 0 when the video played to its end with no fatal player error,
//! 1 otherwise, 2 on a usage or launch error (then the JSON has "launchError").
//! "segmentsLoaded" counts the .m4s responses the browser received (status
//! 200/206), whichever player asked for them.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function usage(msg) {
  process.stderr.write(`play-eme.mjs: ${msg}\nusage: node play-eme.mjs URL --player shaka|dashjs [--clearkey KIDHEX:KEYHEX]... [--timeout-ms N] [--rate R]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { url: null, player: null, keys: {}, timeoutMs: 60000, rate: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--timeout-ms') opts.timeoutMs = Number(value());
    else if (a === '--rate') opts.rate = Number(value());
    else if (a === '--player') opts.player = value();
    else if (a === '--clearkey') {
      const m = /^([0-9a-fA-F]{32}):([0-9a-fA-F]{32})$/.exec(value());
      if (!m) usage('--clearkey takes KIDHEX:KEYHEX, 32 hex digits each');
      opts.keys[m[1].toLowerCase()] = m[2].toLowerCase();
    } else if (a === '-h' || a === '--help') usage('help');
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (opts.url === null) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage('missing URL');
  if (opts.player !== 'shaka' && opts.player !== 'dashjs') usage('--player must be shaka or dashjs');
  if (!(opts.timeoutMs > 0)) usage('--timeout-ms must be a positive number');
  if (!(opts.rate > 0 && opts.rate <= 16)) usage('--rate must be in (0, 16]');
  return opts;
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// Runs in the page: plays `url` with the chosen player to its end.
async function playInPage({ url, player, keys, rate, timeoutMs }) {
  const video = document.getElementById('v');
  const errors = [];
  let fatal = false;
  // The text tracks the player lists once the manifest is loaded (Shaka).
  let textTracks = null;
  const summary = (extra) => {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return {
      ended: video.ended,
      duration: Number.isFinite(video.duration) ? video.duration : null,
      currentTime: video.currentTime,
      errors,
      decodedFrames: q ? q.totalVideoFrames : null,
      droppedFrames: q ? q.droppedVideoFrames : null,
      player,
      textTracks,
      fatal,
      ...extra,
    };
  };
  const b64url = (hex) =>
    btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return await new Promise((resolve) => {
    let done = false;
    let stop = () => {};
    const finish = (extra) => {
      if (done) return;
      done = true;
      const s = summary(extra);
      try { stop(); } catch (_) { /* best effort */ }
      resolve(s);
    };
    const fail = (type, details) => {
      errors.push({ type, details: String(details), fatal: true });
      fatal = true;
      finish({ timedOut: false });
    };
    video.addEventListener('ended', () => finish({ timedOut: false }));
    video.addEventListener('error', () => {
      const e = video.error;
      fail('mediaElement', e ? `code ${e.code}: ${e.message}` : 'unknown');
    });
    video.addEventListener('playing', () => { video.playbackRate = rate; });
    video.addEventListener('ratechange', () => { if (video.playbackRate !== rate) video.playbackRate = rate; });
    setTimeout(() => finish({ timedOut: true }), timeoutMs);
    const start = () => {
      video.playbackRate = rate;
      video.play().catch((e) => fail('play', e));
    };
    if (player === 'shaka') {
      shaka.polyfill.installAll();
      if (!shaka.Player.isBrowserSupported()) return fail('setup', 'shaka: browser not supported');
      const p = new shaka.Player();
      stop = () => p.destroy();
      p.addEventListener('error', (ev) => {
        const d = ev.detail || {};
        errors.push({ type: 'shaka', details: `code ${d.code} category ${d.category}`, data: JSON.stringify(d.data || []).slice(0, 400), fatal: d.severity === 2 });
        if (d.severity === 2) { fatal = true; finish({ timedOut: false }); }
      });
      if (Object.keys(keys).length) p.configure({ drm: { clearKeys: keys } });
      p.attach(video)
        .then(() => p.load(url))
        .then(() => {
          textTracks = p.getTextTracks().map((t) => ({ language: t.language, kind: t.kind, mimeType: t.mimeType, roles: t.roles }));
          start();
        })
        .catch((e) => fail('shaka', e && e.code ? `code ${e.code} ${JSON.stringify(e.data || []).slice(0, 400)}` : e));
    } else {
      const p = dashjs.MediaPlayer().create();
      stop = () => p.reset();
      p.on(dashjs.MediaPlayer.events.ERROR, (e) => {
        const err = e.error || {};
        fail('dashjs', `code ${err.code}: ${err.message || JSON.stringify(e).slice(0, 300)}`);
      });
      if (Object.keys(keys).length) {
        const clearkeys = {};
        for (const [kid, key] of Object.entries(keys)) clearkeys[b64url(kid)] = b64url(key);
        p.setProtectionData({ 'org.w3.clearkey': { clearkeys } });
      }
      p.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, start);
      p.initialize(video, url, false);
    }
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const target = new URL(opts.url);
  const pageUrl = `${target.origin}/__shieldpack_play__.html`;
  const lib = opts.player === 'shaka'
    ? require.resolve('shaka-player/dist/shaka-player.compiled.js')
    // dash.js's package exports do not name its UMD build: by path.
    : fileURLToPath(new URL('./node_modules/dashjs/dist/modern/umd/dash.all.min.js', import.meta.url));
  const executablePath = process.env.SHIELDPACK_CHROMIUM || '/usr/bin/chromium';
  const userDataDir = mkdtempSync(join(tmpdir(), 'shieldpack-chromium-'));
  let context;
  let result;
  let code = 1;
  try {
    try {
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30000,
      });
    } catch (e) {
      result = { ended: false, launchError: String(e && e.message ? e.message : e).split('\n')[0] };
      process.stdout.write(JSON.stringify(result) + '\n');
      return 2;
    }
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    let segmentsLoaded = 0;
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('response', (r) => {
      if (/\.m4s(\?|$)/.test(r.url()) && (r.status() === 200 || r.status() === 206)) segmentsLoaded++;
    });
    await page.route(pageUrl, (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><meta charset="utf-8"><title>shieldpack play</title>' +
          '<video id="v" muted playsinline width="640" height="360"></video>',
      }),
    );
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 30000 });
    await page.addScriptTag({ path: lib });
    const pageResult = page.evaluate(playInPage, {
      url: opts.url,
      player: opts.player,
      keys: opts.keys,
      rate: opts.rate,
      timeoutMs: opts.timeoutMs,
    });
    let timer;
    const nodeDeadline = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), opts.timeoutMs + 15000);
    });
    result = await Promise.race([pageResult, nodeDeadline]);
    clearTimeout(timer);
    if (result === null) {
      result = { ended: false, timedOut: true, errors: [{ type: 'harness', details: 'page did not answer', fatal: true }] };
    }
    result.segmentsLoaded = segmentsLoaded;
    if (consoleErrors.length) {
      result.errors = result.errors || [];
      for (const e of consoleErrors) result.errors.push({ type: 'pageerror', details: e, fatal: false });
    }
    const ok = result.ended === true && !result.fatal;
    delete result.fatal;
    code = ok ? 0 : 1;
    process.stdout.write(JSON.stringify(result) + '\n');
    return code;
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stdout.write(JSON.stringify({ ended: false, errors: [{ type: 'harness', details: String(e), fatal: true }] }) + '\n');
    process.exit(1);
  },
);
