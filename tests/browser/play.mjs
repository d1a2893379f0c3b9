#!/usr/bin/env node
//! Plays an HLS package in a real browser: hls.js + MSE in Debian's headless chromium.
//!
//! usage: node play.mjs URL_OF_MASTER_M3U8 [--timeout-ms N] [--rate R]
//!        [--switch-level-at S] [--switch-audio-at S]
//!
//! Prints ONE JSON line on stdout:
//!   {"ended", "duration", "currentTime", "fragsLoaded", "keysLoaded", "errors",
//!    "decodedFrames", "droppedFrames", "mseH264Aac", "timedOut", "levels",
//!    "fragLevels", "levelSwitch", "audioTracks", "audioSwitch", "audioFragTracks",
//!    "subtitleTracks"}
//! --switch-level-at S forces hls.js to another level (hls.currentLevel: the
//! last if it plays the first, else the first) once S seconds have played;
//! "levelSwitch" says when, from which level to which, and how many frames had
//! been decoded by then, "fragLevels" the levels of the video fragments loaded.
//! --switch-audio-at S does the same for the alternate audio track
//! (hls.audioTrack), with "audioSwitch" and "audioFragTracks".
//! and exits 0 when the video played to its end with no fatal hls.js error, 1
//! otherwise, 2 on a usage or launch error (then the JSON has "launchError").
//!
//! Same origin without a page server: the player page is answered by
//! playwright's request interception at URL's own origin (/__shieldpack_play__.html),
//! so every playlist, key and segment request is same-origin and goes, untouched,
//! to the server under test (whose request log therefore shows only media traffic).
//! hls.js is injected from node_modules, so nothing is fetched from the internet.
//!
//! Chromium is Debian's /usr/bin/chromium (playwright-core never downloads one;
//! override with SHIELDPACK_CHROMIUM). The flags keep it from reaching for
//! Google's hosts, which this machine's closed network refuses.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

function usage(msg) {
  process.stderr.write(`play.mjs: ${msg}\nusage: node play.mjs URL_OF_MASTER_M3U8 [--timeout-ms N] [--rate R]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { url: null, timeoutMs: 60000, rate: 1, switchLevelAt: null, switchAudioAt: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--timeout-ms') opts.timeoutMs = Number(value());
    else if (a === '--rate') opts.rate = Number(value());
    else if (a === '--switch-level-at') opts.switchLevelAt = Number(value());
    else if (a === '--switch-audio-at') opts.switchAudioAt = Number(value());
    else if (a === '-h' || a === '--help') usage('help');
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (opts.url === null) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage('missing URL_OF_MASTER_M3U8');
  if (!(opts.timeoutMs > 0)) usage('--timeout-ms must be a positive number');
  // Chromium plays at most 16x; above 4x it mutes audio, which is fine (muted anyway).
  if (!(opts.rate > 0 && opts.rate <= 16)) usage('--rate must be in (0, 16]');
  let u;
  try {
    u = new URL(opts.url);
  } catch {
    usage(`not a URL: ${opts.url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') usage('URL must be http(s)');
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
  // A muted video may autoplay anyway; this makes it independent of policy changes.
  '--autoplay-policy=no-user-gesture-required',
];

// Runs in the page. Resolves when the video ends, a fatal error happens or the
// page-side deadline passes; always resolves with the summary object.
async function playInPage({ url, rate, timeoutMs, switchLevelAt, switchAudioAt }) {
  const video = document.getElementById('v');
  const errors = [];
  let fragsLoaded = 0;
  const fragLevels = new Set();
  const audioFragTracks = new Set();
  let levelSwitch = null;
  let audioSwitch = null;
  let levels = null;
  let audioTracks = null;
  let subtitleTracks = null;
  let keysLoaded = 0;
  let fatal = false;
  const mseH264Aac =
    typeof MediaSource !== 'undefined' &&
    MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001e,mp4a.40.2"');

  const summary = (extra) => {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return {
      ended: video.ended,
      duration: Number.isFinite(video.duration) ? video.duration : null,
      currentTime: video.currentTime,
      fragsLoaded,
      keysLoaded,
      errors,
      decodedFrames: q ? q.totalVideoFrames : null,
      droppedFrames: q ? q.droppedVideoFrames : null,
      mseH264Aac,
      fatal,
      levels,
      fragLevels: [...fragLevels].sort(),
      levelSwitch,
      audioTracks,
      audioFragTracks: [...audioFragTracks].sort(),
      subtitleTracks,
      audioSwitch,
      ...extra,
    };
  };

  if (!window.Hls || !Hls.isSupported()) {
    fatal = true;
    errors.push({ type: 'setup', details: 'hlsNotSupported', fatal: true, mseH264Aac });
    return summary({ timedOut: false });
  }

  const hls = new Hls({ enableWorker: true, debug: false });
  return await new Promise((resolve) => {
    let done = false;
    const finish = (extra) => {
      if (done) return;
      done = true;
      const s = summary(extra);
      hls.destroy();
      resolve(s);
    };
    hls.on(Hls.Events.FRAG_LOADED, (_ev, d) => {
      fragsLoaded++;
      if (d.frag.type === 'audio') audioFragTracks.add(d.frag.level);
      else if (d.frag.type === 'main') fragLevels.add(d.frag.level);
    });
    const decoded = () => {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      return q ? q.totalVideoFrames : null;
    };
    video.addEventListener('timeupdate', () => {
      if (switchLevelAt !== null && levelSwitch === null && video.currentTime >= switchLevelAt) {
        const from = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
        const to = from === 0 ? hls.levels.length - 1 : 0;
        levelSwitch = { at: video.currentTime, from, to, decodedAtSwitch: decoded() };
        hls.currentLevel = to;
      }
      if (switchAudioAt !== null && audioSwitch === null && video.currentTime >= switchAudioAt) {
        const from = hls.audioTrack;
        const to = from === 0 ? hls.audioTracks.length - 1 : 0;
        audioSwitch = { at: video.currentTime, from, to, decodedAtSwitch: decoded() };
        hls.audioTrack = to;
      }
    });
    hls.on(Hls.Events.KEY_LOADED, () => keysLoaded++);
    hls.on(Hls.Events.ERROR, (_ev, d) => {
      errors.push({
        type: d.type,
        details: d.details,
        fatal: !!d.fatal,
        reason: d.reason || (d.error && String(d.error)) || undefined,
        url: (d.frag && d.frag.url) || (d.context && d.context.url) || undefined,
        code: d.response && d.response.code !== undefined ? d.response.code : undefined,
      });
      if (d.fatal) {
        fatal = true;
        finish({ timedOut: false });
      }
    });
    video.addEventListener('ended', () => finish({ timedOut: false }));
    video.addEventListener('error', () => {
      const e = video.error;
      errors.push({ type: 'mediaElement', details: e ? `code ${e.code}: ${e.message}` : 'unknown', fatal: true });
      fatal = true;
      finish({ timedOut: false });
    });
    // hls.js and the media element reset playbackRate on some transitions; keep it.
    video.addEventListener('playing', () => { video.playbackRate = rate; });
    video.addEventListener('ratechange', () => { if (video.playbackRate !== rate) video.playbackRate = rate; });
    hls.on(Hls.Events.MANIFEST_PARSED, (_ev, d) => {
      levels = d.levels.map((l) => ({ height: l.height, bitrate: l.bitrate }));
      audioTracks = (d.audioTracks || []).map((t) => ({ lang: t.lang, name: t.name, default: t.default }));
      subtitleTracks = (d.subtitleTracks || []).map((t) => ({ lang: t.lang, name: t.name }));
      video.playbackRate = rate;
      video.play().catch((e) => {
        errors.push({ type: 'play', details: String(e), fatal: true });
        fatal = true;
        finish({ timedOut: false });
      });
    });
    setTimeout(() => finish({ timedOut: true }), timeoutMs);
    hls.loadSource(url);
    hls.attachMedia(video);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const target = new URL(opts.url);
  const pageUrl = `${target.origin}/__shieldpack_play__.html`;
  const hlsPath = require.resolve('hls.js/dist/hls.min.js');
  const executablePath = process.env.SHIELDPACK_CHROMIUM || '/usr/bin/chromium';
  const userDataDir = mkdtempSync(join(tmpdir(), 'shieldpack-chromium-'));

  let context;
  let result;
  let code = 1;
  try {
    try {
      // launchPersistentContext is playwright's way to give chromium its own
      // --user-data-dir (launch() refuses that flag in args).
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30000,
      });
    } catch (e) {
      result = { ended: false, launchError: String(e && e.message ? e.message : e).split('\n')[0] };
      process.stdout.write(JSON.stringify(result) + '\n');
      code = 2;
      return code;
    }
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.route(pageUrl, (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><meta charset="utf-8"><title>shieldpack play</title>' +
          '<video id="v" muted playsinline width="640" height="360"></video>',
      }),
    );
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 30000 });
    await page.addScriptTag({ path: hlsPath });
    // The page gives up at timeoutMs; node allows a margin on top for the
    // evaluate round trip before giving up itself.
    const pageResult = page.evaluate(playInPage, {
      url: opts.url,
      rate: opts.rate,
      timeoutMs: opts.timeoutMs,
      switchLevelAt: opts.switchLevelAt,
      switchAudioAt: opts.switchAudioAt,
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
