//! The packaging pipeline: media segments in, an encrypted HLS package out.
//!
//! This thread demuxes and muxes MPEG-TS in memory (`media::segment`) and
//! hands it over in chunks; another gives each segment its key period, encrypts
//! it with AES-128-CBC as it streams, hashes and writes it. (Without
//! `Options::overlap`, both halves take turns on this thread until a core is
//! lent from `Options::idle`.) Everything is written
//! into a staged folder that is renamed to OUTDIR only when whole. Output
//! depends only on the input, keyring and flags.
//!
//! With a scene policy (`--policy`), every scene start and end is a forced cut,
//! so a segment never spans two scenes, and key periods are numbered by a
//! counter that advances at each scene boundary and each rotation boundary
//! inside a scene, so a key never spans two scenes either. Clear scenes get
//! `EXT-X-KEY:METHOD=NONE`. A scene that starts between keyframes shares a
//! segment with the one before it; that segment takes the protection, key
//! period and tag of the stronger of the two (`stronger_scene`), so no frame
//! is less protected than the policy asks. Without a policy, periods keep their historic
//! numbering (`period_of`: segment count or time divided by the interval).

pub mod ab;
mod cencops;
pub mod cmaf;
pub mod dash;
pub mod dashtime;
mod drmwire;
pub mod iframes;
pub mod ladder;
mod multivariant;
mod parallel;
mod renditions;
mod saes;
mod scope;
pub mod verify;
mod webvtt;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use shieldpack_core::crypto;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::fsutil::{self, StagedDir};
use shieldpack_core::hls::{
    bandwidth, Key, MasterPlaylist, MediaPlaylist, MediaSegment, PlaylistType, Variant,
};
use shieldpack_core::keys::{self, KeyScope, Keyring, KeyringFile, PackagedTitle, TrackType};
use shieldpack_core::manifest::resolved;
use shieldpack_core::manifest::{
    self, key_uri, Manifest, Rendition, Rotation, SceneTag, SegmentRecord, Source,
};
use shieldpack_core::policy::{self, rotation::RotationConfig, Hdcp, Level, Policy};
use shieldpack_core::progress::Progress;
use shieldpack_media::{self as media, format::Container, segment};
use shieldpack_mp4 as mp4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvMode {
    Sequence,
    Derived,
}

impl IvMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IvMode::Sequence => "sequence",
            IvMode::Derived => "derived",
        }
    }
}

/// Everything `package` needs besides the keyring.
#[derive(Debug, Clone)]
pub struct Options {
    pub input: PathBuf,
    /// Further pre-encoded renditions of the same title (`package IN1 IN2
    /// ...`): each becomes a variant of the master playlist, cut at the same
    /// times as `input` (see `renditions`).
    pub more_inputs: Vec<PathBuf>,
    /// The file the title came from when `input` is an intermediate (the
    /// mezzanine of a `--ladder` run, whose rungs are temporary): the keyring
    /// records it as the packaged title and `manifest.json` names it as the
    /// source. `None`: `input` is the title.
    pub title_source: Option<PathBuf>,
    pub output: PathBuf,
    pub content_id: String,
    pub segment_duration: f64,
    pub rotation: Rotation,
    pub key_uri: String,
    pub iv: IvMode,
    pub force: bool,
    /// Files (name, bytes) written into the staged folder last, just before it
    /// is renamed into place, so they appear exactly when the package is whole:
    /// `batch` puts its per-title state record here.
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// Remove what killed runs staged beside `output` first (see `StagedDir`).
    /// That reads `output`'s parent folder; `batch` clears its titles' once
    /// per run instead of once per title, which in an OUTROOT of thousands of
    /// titles on NFS would cost minutes.
    pub clean_abandoned: bool,
    /// Package even when the keyring records another title under
    /// `content_id` (`--reuse-content-id`); see `keys::record_packaged`.
    pub reuse_content_id: bool,
    /// A scene policy file to honour (`--policy`).
    pub policy: Option<PathBuf>,
    /// The `--rotation` config `rotation` came from, recorded in the manifest.
    pub rotation_config: Option<RotationConfig>,
    /// Encrypt and write on a thread of their own, overlapping demux and
    /// mux: one title finishes sooner on an otherwise idle core. Without it
    /// the pipeline runs on the calling thread and costs about 10% less CPU
    /// (no hand-over between cores), which is what `batch` wants when its
    /// titles already keep every core busy. The output is the same.
    pub overlap: bool,
    /// Without `overlap`: cores the caller has left idle. As soon as one is
    /// free the pipeline borrows it and overlaps from then on, until the
    /// segments are written. `batch` lends the cores of workers that found no
    /// title left to start, so its last titles do not run on one core while
    /// the others idle.
    pub idle: Option<Arc<dyn CoreLender>>,
    /// Refuse input that breaks Apple's HLS authoring rules (`--apple`);
    /// without it they are warnings.
    pub apple: bool,
    /// DRM systems to signal (`--drm`) and their options (`--license-url`),
    /// checked against the format and scheme (`shieldpack_core::drm::validate`).
    pub drm: Vec<shieldpack_core::drm::DrmSystem>,
    pub drm_options: shieldpack_core::drm::DrmOptions,
    /// The segment container (`--format`).
    pub format: Container,
    /// How segments are encrypted when a keyring is given (`--scheme`).
    pub scheme: cmaf::Scheme,
    /// Also write a DASH `manifest.mpd` over the CMAF segments (`--dash`).
    pub dash: bool,
    /// One key per period, or one per period and track type (`--key-scope`).
    pub key_scope: KeyScope,
}

/// Lends the pipeline a core while it runs (`Options::idle`): `batch` lends
/// the cores of workers that found no title left to start.
pub trait CoreLender: Send + Sync + std::fmt::Debug {
    /// A core, if one is idle now. The pipeline holds what it gets while it
    /// uses the core; dropping it gives the core back. Called at every
    /// pipeline event until a core is had, so it must be cheap.
    fn take(&self) -> Option<Box<dyn Send>>;
}

/// What was made.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub manifest: Manifest,
    pub video_frames: u64,
    /// The resolved policy written to OUTDIR/policy.json, with `--policy`.
    pub policy: Option<resolved::Resolved>,
    /// Things the user should know (segments that need the one before,
    /// policy gaps, scenes moved to keyframes, frames dropped before the
    /// first keyframe).
    pub warnings: Vec<String>,
}

/// Checks flags that do not need the input.
pub fn check_options(o: &Options) -> Result<()> {
    shieldpack_core::keys::check_new_content_id(&o.content_id)?;
    if !(o.segment_duration.is_finite() && o.segment_duration >= 0.5 && o.segment_duration <= 60.0)
    {
        return Err(Error::arg(
            format!("--segment-duration {} is out of range", o.segment_duration),
            "give a target between 0.5 and 60 seconds; 6 is the HLS authoring guideline",
        ));
    }
    match o.rotation {
        Rotation::Time { seconds } if seconds + 1e-9 < o.segment_duration => {
            return Err(Error::arg(
                format!("--rotate-every {seconds}s is shorter than the {}s segment duration", o.segment_duration),
                "a key period holds whole segments; rotate at least every segment duration, or use --rotate-segments 1",
            ))
        }
        Rotation::Segments { count: 0 } => {
            return Err(Error::arg("--rotate-segments 0 is not a count", "give a count of 1 or more segments per key"))
        }
        _ => {}
    }
    shieldpack_core::manifest::check_key_uri(&o.key_uri)
}

fn period_of(rotation: Rotation, index: usize, start: f64) -> u64 {
    match rotation {
        Rotation::None => 0,
        Rotation::Segments { count } => index as u64 / u64::from(count),
        Rotation::Time { seconds } => ((start + 1e-6) / seconds).floor() as u64,
    }
}

/// Which part of a policy a time falls in: a scene, or the gap before scene `n`
/// (`n` = number of scenes for the tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Scene(usize),
    Gap(usize),
}

fn region_of(p: &Policy, t: f64) -> Region {
    match p.scene_at(t) {
        Some(i) => Region::Scene(i),
        None => Region::Gap(p.scenes.iter().filter(|s| s.start <= t + 1e-6).count()),
    }
}

/// How strongly a region protects its frames: clear < a gap (encrypted,
/// untagged) < L3 < L2 < L1, then by HDCP version.
fn strength(p: &Policy, region: Region) -> (u8, u8) {
    match region {
        Region::Gap(_) => (1, 0),
        Region::Scene(i) => {
            let s = &p.scenes[i];
            let level = match s.level {
                Level::Clear => 0,
                Level::L3 => 2,
                Level::L2 => 3,
                Level::L1 => 4,
            };
            let hdcp = match s.hdcp {
                Hdcp::None => 0,
                Hdcp::V1_4 => 1,
                Hdcp::V2_2 => 2,
                Hdcp::V2_3 => 3,
            };
            (level, hdcp)
        }
    }
}

/// The scene a segment from `start` to `end`, begun in `region`, must be
/// protected as, when one of the scenes its frames belong to asks for more
/// than `region` does. A scene can only start on a keyframe, so a scene that
/// starts between keyframes shares a segment with the one before it: that
/// segment takes the stronger protection (and the stronger scene's key), so
/// no frame is ever less protected than the policy asks.
fn stronger_scene(p: &Policy, region: Region, start: f64, end: f64) -> Option<usize> {
    // A millisecond of slack: a scene that starts at the segment's end (on
    // the keyframe that cuts it) has no frame in it.
    let mut best = (region, strength(p, region));
    for (i, s) in p.scenes.iter().enumerate() {
        if s.start < end - 1e-3 && s.end > start + 1e-3 {
            let st = strength(p, Region::Scene(i));
            if st > best.1 {
                best = (Region::Scene(i), st);
            }
        }
    }
    match best.0 {
        Region::Scene(i) if best.0 != region => Some(i),
        _ => None,
    }
}

/// Sequential key periods for a policy package: a new period at every region
/// change and at every rotation boundary inside a region.
#[derive(Clone)]
struct PeriodCounter {
    rotation: Rotation,
    last: Option<(Region, u64)>,
    region_first: usize,
    period: u64,
}

impl PeriodCounter {
    fn new(rotation: Rotation) -> Self {
        PeriodCounter {
            rotation,
            last: None,
            region_first: 0,
            period: 0,
        }
    }

    fn next(&mut self, region: Region, index: usize, start: f64) -> u64 {
        if self.last.map(|l| l.0) != Some(region) {
            self.region_first = index;
        }
        let bucket = match self.rotation {
            Rotation::None => 0,
            Rotation::Segments { count } => (index - self.region_first) as u64 / u64::from(count),
            Rotation::Time { seconds } => ((start + 1e-6) / seconds).floor() as u64,
        };
        match self.last {
            None => self.period = 0,
            Some(l) if l != (region, bucket) => self.period += 1,
            Some(_) => {}
        }
        self.last = Some((region, bucket));
        self.period
    }
}

/// What `--key-scope track-type` cannot do (yet).
fn check_track_type_scope(o: &Options, keyring: Option<&Keyring>) -> Result<()> {
    if !o.key_uri.contains("{kid}") {
        return Err(Error::arg(
            format!("--key-scope track-type gives each track type its own key, but --key-uri '{}' would name them all alike", o.key_uri),
            "put {kid} in --key-uri (the default keys/{kid}.key has it)",
        ));
    }
    if let Some(c) = keyring.and_then(Keyring::provided) {
        if !c.has_track_types() {
            return Err(Error::invalid_file(
                &c.path,
                "has no key for a track type (no usage rule with an intendedTrackType, AudioFilter or VideoFilter), but --key-scope track-type needs one per period and track type",
                "leave --key-scope out to use its one key per period, or ask the provider for keys by track type (`shieldpack keys export --format cpix` of a track-type package writes such a document)",
            ));
        }
    }
    Ok(())
}

/// The key, KID and IV of segment `sequence` in `period` of the
/// `rendition`-th rendition (`Keyring::rendition_iv`).
fn segment_key(
    o: &Options,
    kr: &Keyring,
    period: u64,
    sequence: u64,
    rendition: usize,
    track: Option<TrackType>,
) -> Result<SegmentKey> {
    // A provider's keys (`--cpix`) must cover every period the package has.
    if let Some(c) = kr.provided().filter(|c| c.scoped(period, track).is_none()) {
        return Err(match track {
            None => c.missing_period(period),
            Some(t) => c.missing_track(period, t),
        });
    }
    let generation = kr.generation_for(&o.content_id, period);
    let (iv, explicit) = match o.iv {
        IvMode::Sequence => (crypto::sequence_iv(sequence), None),
        IvMode::Derived => {
            let iv = kr.rendition_iv(&o.content_id, generation, period, sequence, rendition);
            (iv, Some(iv))
        }
    };
    Ok(SegmentKey {
        generation,
        kid: hex::encode(kr.scoped_kid(&o.content_id, generation, period, track)),
        key: kr.scoped_content_key(&o.content_id, generation, period, track),
        iv,
        explicit,
    })
}

/// Rounds to what the playlist prints (milliseconds), so the target duration
/// rule is checked against the value players read.
fn ms(d: f64) -> f64 {
    (d * 1000.0).round() / 1000.0
}

/// The segment being written: its file, cipher state and hash so far.
struct Current {
    file: std::fs::File,
    path: PathBuf,
    enc: Option<crypto::StreamEncryptor>,
    /// Of the bytes written to `file`; encrypted segments feed it as they
    /// encrypt (`StreamEncryptor::update_hashed`), in one pass over the data.
    hasher: crypto::Sha256One,
    size: u64,
    period: u64,
    generation: u32,
    kid: Option<String>,
    iv: Option<[u8; 16]>,
    key_tag: Option<Key>,
    scene: Option<SceneTag>,
    /// With a policy: the region the segment began in, and the period
    /// counter and EXT-X-KEY in force before it, to give the segment the
    /// key of a stronger scene it turns out to hold (`stronger_scene`).
    region: Option<Region>,
    counter_before: Option<PeriodCounter>,
    last_key_before: Option<Option<(u64, u32)>>,
    /// With common encryption (cmaf `cenc`, `cbcs`): the clear segment,
    /// encrypted sample by sample once whole (`End`), and its key.
    common: Option<(Vec<u8>, cmaf::SampleKey)>,
    /// Where the fragment in `common`'s buffer begins (`Event::DataFrom`).
    common_from: usize,
    /// With common encryption, a clear scene's segment: buffered whole, to
    /// be written as a clear fragment under the protected init (`cencops`).
    clear_common: Option<Vec<u8>>,
    /// With SAMPLE-AES (ts): the clear segment, encrypted once whole
    /// (`End`), its key and IV (`saes`).
    saes: Option<saes::Pending>,
}

/// A finished segment's file, for the sync thread to make durable, with
/// its last bytes when the writer left them to it to write (`Deferred`).
struct Finished {
    file: std::fs::File,
    path: PathBuf,
    deferred: Option<Arc<Deferred>>,
}

/// A common encryption fragment, encrypted, not yet hashed nor written:
/// `head` (its styp and moof) then `buf[mdat]`. The write (a copy into the
/// page cache) runs on the sync thread and the hash (SHA-NI, the larger
/// part of the work) on a thread of its own, side by side, so the writer
/// encrypts the next fragment meanwhile; `buf` then goes back to the muxer.
/// On the bench's cmaf title the writer, hashing too, set the pace.
struct Deferred {
    head: Vec<u8>,
    buf: Vec<u8>,
    mdat: std::ops::Range<usize>,
    /// The segment's hash, fed whatever came before (nothing, for a
    /// fragment), and the record (`Writer::records`) its digest goes to.
    hasher: crypto::Sha256One,
    record: usize,
}

impl Deferred {
    /// Hands the buffer back to the muxer, if this was the last holder.
    fn done(this: Arc<Deferred>, spares: &mpsc::SyncSender<Vec<u8>>) {
        if let Some(mut d) = Arc::into_inner(this) {
            d.buf.clear();
            let _ = spares.try_send(d.buf);
        }
    }
}

/// The key material of one segment.
struct SegmentKey {
    generation: u32,
    kid: String,
    key: zeroize::Zeroizing<[u8; 16]>,
    iv: [u8; 16],
    /// The IV written in EXT-X-KEY (`--iv derived`).
    explicit: Option<[u8; 16]>,
}

/// The consuming half of the pipeline: keys, encryption, hashing, files.
struct Writer<'a> {
    o: &'a Options,
    keyring: Option<&'a Keyring>,
    root: &'a Path,
    /// Which rendition this is (its place in manifest.json), and its folder
    /// name when the caller chose it (several renditions).
    rendition_index: usize,
    rendition_name: Option<String>,
    /// The rendition's track type under `--key-scope track-type` (known
    /// for video at `Event::Start`), `None` under the period scope.
    track: Option<TrackType>,
    start: Option<(media::MediaInfo, media::Selection, String)>,
    cur: Option<Current>,
    /// The EXT-X-KEY in force: None before the first, Some(None) for METHOD=NONE.
    last_key: Option<Option<(u64, u32)>>,
    policy: Option<&'a Policy>,
    counter: PeriodCounter,
    records: Vec<SegmentRecord>,
    playlist: Vec<MediaSegment>,
    /// Where written `Data` buffers go back to the muxer, emptied, to be filled again.
    spares: mpsc::SyncSender<Vec<u8>>,
    /// Where finished segment files go to be made durable (`sync_data`) off
    /// the encrypting thread, before the package is published.
    /// `None` once the writer is done, which ends the syncer.
    finished: Option<mpsc::SyncSender<Finished>>,
    /// CMAF: the init segment as written (protected with common encryption).
    init: Option<mp4::InitSegment>,
    /// The first video rendition's, when audio renditions are cut beside
    /// it: where each segment's start after the first goes (`CutFeed`).
    feed: Option<&'a parallel::CutFeed>,
    /// Where CMAF fragments go to be hashed (`Deferred`); their records'
    /// `sha256` is filled in once the hasher is done. `None` once the
    /// writer is done, which ends the hasher.
    hashes: Option<mpsc::SyncSender<Arc<Deferred>>>,
}

impl Writer<'_> {
    /// Handles the events from another thread's demuxer until it ends or one
    /// fails, and returns that failure. `rx` is dropped on return, so the
    /// demuxer's next send fails and it stops.
    fn drain(&mut self, rx: mpsc::Receiver<segment::Event>) -> Option<Error> {
        for ev in rx {
            if let Err(e) = self.handle(ev) {
                return Some(e);
            }
        }
        None
    }

    fn rendition(&self) -> &str {
        self.start
            .as_ref()
            .map(|s| s.2.as_str())
            .expect("Start comes first")
    }

    /// Appends to the segment file; the caller has hashed `bytes` already.
    fn write(cur: &mut Current, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        cur.file
            .write_all(bytes)
            .map_err(|e| Error::io(&cur.path, e))?;
        cur.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes `k` the segment's key: its EXT-X-KEY line when the key changes
    /// (or the IV is explicit), its KID, period and generation.
    fn use_key(
        &mut self,
        cur: &mut Current,
        k: SegmentKey,
        last_key_before: Option<Option<(u64, u32)>>,
    ) {
        let o = self.o;
        let (period, generation) = (cur.period, k.generation);
        cur.key_tag = (k.explicit.is_some() || last_key_before != Some(Some((period, generation))))
            .then(|| {
                cmaf::key_tag(
                    o.scheme,
                    key_uri(&o.key_uri, &k.kid, period, &o.content_id),
                    k.explicit,
                )
            });
        self.last_key = Some(Some((period, generation)));
        cur.generation = generation;
        cur.kid = Some(k.kid);
        // Common encryption's IVs are per sample, in each segment's senc.
        cur.iv = k.explicit.filter(|_| o.scheme.common().is_none());
    }

    /// Re-protects a finished segment as scene `j`, stronger than the one it
    /// began in: a new period in `j`'s run of periods (as if the segment had
    /// begun in `j`), `j`'s key and tag, and the file rewritten encrypted
    /// under that key. Only a segment that straddles a scene start between
    /// keyframes comes here, so reading one segment back is cheap.
    fn protect_as(&mut self, cur: &mut Current, j: usize, index: usize, start: f64) -> Result<()> {
        if self.o.scheme.common().is_some() {
            return self.protect_as_common(cur, j, index, start);
        }
        let (Some(p), Some(kr)) = (self.policy, self.keyring) else {
            return Ok(());
        };
        let o = self.o;
        let sequence = index as u64;
        let scene = &p.scenes[j];
        let mut buf = std::fs::read(&cur.path).map_err(|e| Error::io(&cur.path, e))?;
        let sample_aes = o.scheme == cmaf::Scheme::SampleAes;
        if cur.kid.is_some() {
            let old = segment_key(
                o,
                kr,
                cur.period,
                sequence,
                self.rendition_index,
                self.track,
            )?;
            if sample_aes {
                buf = saes::decrypt(&cur.path, &buf, &old.key, &old.iv)?;
            } else {
                let len =
                    crypto::decrypt_in_place(&mut buf, &old.key, &old.iv).ok_or_else(|| {
                        Error::invalid_file(
                            &cur.path,
                            "a segment just written does not decrypt",
                            "package again; if it recurs, report it",
                        )
                    })?;
                buf.truncate(len);
            }
        }
        if let Some(before) = cur.counter_before.clone() {
            self.counter = before;
        }
        cur.period = self.counter.next(Region::Scene(j), index, start);
        let k = segment_key(
            o,
            kr,
            cur.period,
            sequence,
            self.rendition_index,
            self.track,
        )?;
        if sample_aes {
            buf = saes::encrypt(&cur.path, &buf, &k.key, &k.iv)?;
        } else {
            crypto::encrypt_in_place(&mut buf, &k.key, &k.iv);
        }
        let mut file = std::fs::File::create(&cur.path).map_err(|e| Error::io(&cur.path, e))?;
        std::io::Write::write_all(&mut file, &buf).map_err(|e| Error::io(&cur.path, e))?;
        cur.file = file;
        cur.hasher = crypto::Sha256One::new();
        cur.hasher.update(&buf);
        cur.size = buf.len() as u64;
        cur.scene = Some(SceneTag {
            label: scene.label.clone(),
            drm_level: scene.level,
            hdcp: scene.hdcp,
        });
        let before = cur.last_key_before;
        self.use_key(cur, k, before);
        Ok(())
    }

    fn handle(&mut self, ev: segment::Event) -> Result<()> {
        match ev {
            segment::Event::Start { info, selection } => {
                // Before a segment is cut: the streams alone decide.
                apple_refusal(self.o, &selection.video)?;
                let name = self
                    .rendition_name
                    .clone()
                    .unwrap_or_else(|| format!("{}p", selection.video.height.unwrap_or(0)));
                let dir = self.root.join(&name);
                std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
                if self.o.key_scope == KeyScope::TrackType && self.track.is_none() {
                    self.track = Some(TrackType::of_video(
                        selection.video.width.unwrap_or(0),
                        selection.video.height.unwrap_or(0),
                    ));
                }
                self.start = Some((info, selection, name));
            }
            segment::Event::Init(clear) => {
                let o = self.o;
                let path = self.root.join(self.rendition()).join("init.mp4");
                let common = self.keyring.and(o.scheme.common());
                // The default KID: the first key period's; segments under
                // another key name theirs in a `seig` group.
                let (kid, constant_iv) = self.keyring.map_or(([0; 16], [0; 16]), |kr| {
                    let generation = kr.generation_for(&o.content_id, 0);
                    (
                        kr.scoped_kid(&o.content_id, generation, 0, self.track),
                        // cbcs's constant IV, one per rendition for the
                        // title (`cmaf::iv_sequence` says why).
                        cmaf::constant_iv(kr, &o.content_id, generation, self.rendition_index),
                    )
                });
                let init = cmaf::init_segment(&path, &clear, common, kid, constant_iv, &[])?;
                fsutil::write_file(&path, &init.to_bytes())?;
                self.init = Some(init);
            }
            segment::Event::Begin { index, start } => {
                let o = self.o;
                let sequence = index as u64;
                let counter_before = self.policy.map(|_| self.counter.clone());
                let last_key_before = self.last_key;
                let (period, scene, region) = match self.policy {
                    None => (period_of(o.rotation, index, start), None, None),
                    Some(p) => {
                        let region = region_of(p, start);
                        let scene = match region {
                            Region::Scene(i) => Some(&p.scenes[i]),
                            Region::Gap(_) => None,
                        };
                        (self.counter.next(region, index, start), scene, Some(region))
                    }
                };
                let clear_scene = scene.is_some_and(|s| s.level == Level::Clear);
                let path = self
                    .root
                    .join(self.rendition())
                    .join(format!("seg_{index:05}.{}", o.format.extension()));
                let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                let mut cur = Current {
                    file,
                    path,
                    enc: None,
                    hasher: crypto::Sha256One::new(),
                    size: 0,
                    period,
                    generation: 0,
                    kid: None,
                    iv: None,
                    key_tag: None,
                    scene: scene.map(|s| SceneTag {
                        label: s.label.clone(),
                        drm_level: s.level,
                        hdcp: s.hdcp,
                    }),
                    region,
                    counter_before,
                    last_key_before,
                    common: None,
                    common_from: 0,
                    clear_common: None,
                    saes: None,
                };
                match self.keyring {
                    None => {
                        if index == 0 {
                            cur.key_tag = Some(Key::none());
                        }
                    }
                    Some(_) if clear_scene => {
                        if self.last_key != Some(None) {
                            cur.key_tag = Some(Key::none());
                        }
                        self.last_key = Some(None);
                        cur.clear_common = o.scheme.common().map(|_| Vec::new());
                    }
                    Some(kr) => {
                        let k =
                            segment_key(o, kr, period, sequence, self.rendition_index, self.track)?;
                        if o.scheme.common().is_some() {
                            let sk = cmaf::SampleKey {
                                key: k.key.clone(),
                                kid: kr.scoped_kid(&o.content_id, k.generation, period, self.track),
                                // One constant IV for the rendition, the init
                                // segment's (`Event::Init`): under another key
                                // it is no reuse, and readers that ignore
                                // `seig` (FFmpeg) still find it in `tenc`.
                                constant_iv: cmaf::constant_iv(
                                    kr,
                                    &o.content_id,
                                    kr.generation_for(&o.content_id, 0),
                                    self.rendition_index,
                                ),
                            };
                            cur.common = Some((Vec::new(), sk));
                        } else if o.scheme == cmaf::Scheme::SampleAes {
                            cur.saes = Some((Vec::new(), k.key.clone(), k.iv));
                        } else {
                            cur.enc = Some(crypto::StreamEncryptor::new(&k.key, &k.iv));
                        }
                        self.use_key(&mut cur, k, last_key_before);
                    }
                }
                self.cur = Some(cur);
            }
            segment::Event::DataFrom { mut buf, start } => {
                let cur = self.cur.as_mut().expect("Data comes inside a segment");
                // Encrypted where it lies; the other paths take the bytes
                // from the start of a buffer.
                if let Some((clear, _)) = cur.common.as_mut().filter(|(c, _)| c.is_empty()) {
                    *clear = buf;
                    cur.common_from = start;
                    return Ok(());
                }
                buf.drain(..start);
                return self.handle(segment::Event::Data(buf));
            }
            segment::Event::Data(mut bytes) => {
                let cur = self.cur.as_mut().expect("Data comes inside a segment");
                // A CMAF fragment comes whole: kept as it is, not copied.
                let keep = |clear: &mut Vec<u8>, bytes: Vec<u8>| match clear.is_empty() {
                    true => *clear = bytes,
                    false => clear.extend_from_slice(&bytes),
                };
                if let Some((clear, _)) = cur.common.as_mut() {
                    keep(clear, bytes);
                    return Ok(());
                }
                if let Some(clear) = cur.clear_common.as_mut() {
                    keep(clear, bytes);
                    return Ok(());
                }
                if let Some((clear, _, _)) = cur.saes.as_mut() {
                    clear.extend_from_slice(&bytes);
                    bytes.clear();
                    let _ = self.spares.try_send(bytes);
                    return Ok(());
                }
                match cur.enc.as_mut() {
                    Some(enc) => {
                        let out = enc.update_hashed(&mut bytes, &mut cur.hasher);
                        // Borrow juggling: write needs &mut cur while out borrows bytes only.
                        let out: &[u8] = out;
                        Self::write(cur, out)?;
                    }
                    None => {
                        cur.hasher.update(&bytes);
                        Self::write(cur, &bytes)?;
                    }
                }
                bytes.clear();
                // The muxer allocates when none is waiting; a full queue drops it.
                let _ = self.spares.try_send(bytes);
            }
            segment::Event::End {
                index,
                start,
                duration,
                video_frames,
            } => {
                let mut cur = self.cur.take().expect("End closes a segment");
                let mut deferred = None;
                if let Some((mut clear, key)) = cur.common.take() {
                    let (Some(init), Some(scheme)) = (&self.init, self.o.scheme.common()) else {
                        unreachable!(
                            "common encryption is only chosen for cmaf, which has an init segment"
                        )
                    };
                    let sequence = cmaf::iv_sequence(self.rendition_index, index)?;
                    // The samples are encrypted where the muxer put them,
                    // and the buffer goes back to it for the next fragment.
                    let from = std::mem::take(&mut cur.common_from);
                    let (head, mdat) = cmaf::encrypt_in_place(
                        &cur.path,
                        &mut clear[from..],
                        init,
                        scheme,
                        &key,
                        sequence,
                    )?;
                    let mdat = mdat.start + from..mdat.end + from;
                    // A segment a stronger scene's key may re-protect is
                    // read back below, so it is written here.
                    let hashes = self.hashes.as_ref().filter(|_| self.finished.is_some());
                    if let Some(hashes) = hashes.filter(|_| self.policy.is_none()) {
                        cur.size += (head.len() + mdat.len()) as u64;
                        let hasher = std::mem::take(&mut cur.hasher);
                        let d = Arc::new(Deferred {
                            head,
                            buf: clear,
                            mdat,
                            hasher,
                            record: self.records.len(),
                        });
                        if hashes.send(Arc::clone(&d)).is_err() {
                            return Err(Error::Interrupted);
                        }
                        deferred = Some(d);
                    } else {
                        cur.hasher.update(&head);
                        cur.hasher.update(&clear[mdat.clone()]);
                        Self::write(&mut cur, &head)?;
                        Self::write(&mut cur, &clear[mdat])?;
                        clear.clear();
                        let _ = self.spares.try_send(clear);
                    }
                }
                if let (Some(clear), Some(init)) = (cur.clear_common.take(), &self.init) {
                    let seg = cencops::clear_segment(&cur.path, &clear, init)?;
                    cur.hasher.update(&seg);
                    Self::write(&mut cur, &seg)?;
                }
                if let Some((clear, key, iv)) = cur.saes.take() {
                    let seg = saes::encrypt(&cur.path, &clear, &key, &iv)?;
                    cur.hasher.update(&seg);
                    Self::write(&mut cur, &seg)?;
                }
                if let Some(enc) = cur.enc.take() {
                    let last = enc.finish_hashed(&mut cur.hasher);
                    Self::write(&mut cur, &last)?;
                }
                if let (Some(p), Some(region)) = (self.policy, cur.region) {
                    if let Some(j) = stronger_scene(p, region, start, start + duration) {
                        self.protect_as(&mut cur, j, index, start)?;
                    }
                }
                // Filled in from the hasher's digest (`run_pipeline`).
                let hashed_later = deferred.is_some();
                if let Some(finished) = &self.finished {
                    // The syncer stops only on an error, which it returns itself
                    // (and which `package` reports instead of this one): stop too.
                    let done = Finished {
                        file: cur.file,
                        path: cur.path,
                        deferred,
                    };
                    if finished.send(done).is_err() {
                        return Err(Error::Interrupted);
                    }
                }
                let duration = ms(duration);
                if let Some(feed) = self.feed.filter(|_| !self.records.is_empty()) {
                    feed.push(ms(start));
                }
                let name = format!("seg_{index:05}.{}", self.o.format.extension());
                self.records.push(SegmentRecord {
                    uri: format!("{}/{name}", self.rendition()),
                    sequence: index as u64,
                    start: ms(start),
                    duration,
                    size: cur.size,
                    sha256: match hashed_later {
                        true => String::new(),
                        false => hex::encode(cur.hasher.finalize()),
                    },
                    video_frames,
                    period: cur.period,
                    generation: cur.generation,
                    kid: cur.kid,
                    iv_mode: self.o.iv.as_str().into(),
                    iv: cur.iv.map(hex::encode),
                    scene: cur.scene,
                    variants: Vec::new(),
                });
                self.playlist.push(MediaSegment {
                    duration,
                    uri: name,
                    key: cur.key_tag,
                    extra_keys: Vec::new(),
                    line: 0,
                });
            }
        }
        Ok(())
    }
}

/// Packages `o.input` into `o.output`, encrypting with keys from `keyring`
/// (a clear package when `None`).
pub fn package(o: &Options, keyring: Option<&Keyring>, progress: &dyn Progress) -> Result<Outcome> {
    check_options(o)?;
    for input in std::iter::once(&o.input).chain(&o.more_inputs) {
        if !input.exists() {
            return Err(Error::InputMissing {
                path: input.clone(),
            });
        }
    }
    // Several inputs share each key period's key, and SAMPLE-AES writes an
    // explicit IV per segment: both take derived IVs.
    let explicit;
    let o = match renditions::derived_ivs(
        o,
        !o.more_inputs.is_empty() || o.scheme == cmaf::Scheme::SampleAes,
    ) {
        Some(changed) => {
            explicit = changed;
            &explicit
        }
        None => o,
    };
    // Refuse a second title under a content id early, before any work;
    // recorded (and checked again, under the keyring's lock) at the end.
    // Only a regular file can be fingerprinted cheaply (and without blocking).
    // A provider's keys (`--cpix`) have no keyring file to record titles in.
    let title_file = o.title_source.as_deref().unwrap_or(&o.input);
    let title = match keyring.filter(|k| k.provided().is_none() && title_file.is_file()) {
        Some(kr) => {
            let title = PackagedTitle::of(title_file)?;
            let file = KeyringFile::load(&kr.path)?;
            if let Some(had) = file.packaged_conflict(&o.content_id, &title) {
                if !o.reuse_content_id {
                    return Err(keys::content_id_taken(&kr.path, &o.content_id, had, &title));
                }
            }
            Some((kr, title))
        }
        None => None,
    };
    if o.key_scope == KeyScope::TrackType {
        check_track_type_scope(o, keyring)?;
    } else if let Some(c) = keyring.and_then(Keyring::provided) {
        if c.has_track_types() {
            return Err(Error::invalid_file(
                &c.path,
                "gives its keys by track type (usage rules with intendedTrackType, AudioFilter or VideoFilter), one key per period and track type",
                "add --key-scope track-type, so that each rendition is encrypted with its track type's key",
            ));
        }
    }
    if o.dash && o.format != Container::Cmaf {
        return Err(Error::arg(
            "--dash needs CMAF segments",
            "add --format cmaf: DASH and HLS then share the same init and media segments",
        ));
    }
    if keyring.is_some() || o.format == Container::Ts {
        cmaf::check(o.format, o.scheme, o.policy.is_some())?;
    }
    let mut warnings = Vec::new();
    let policy = load_policy(o, keyring, &mut warnings)?;
    let staged = StagedDir::new(&o.output, o.force, o.clean_abandoned)?;
    let mut plan = cut_plan(o, policy.as_ref());
    let inputs: Vec<&Path> = std::iter::once(o.input.as_path())
        .chain(o.more_inputs.iter().map(PathBuf::as_path))
        .collect();
    if keyring.is_some() && o.scheme == cmaf::Scheme::SampleAes {
        saes::check_inputs(&inputs)?;
    }
    let names = renditions::names(&inputs)?;
    let multi = inputs.len() > 1;
    let map = (o.format == Container::Cmaf).then(|| "init.mp4".to_string());
    // Every audio track becomes an alternate audio rendition, and video
    // renditions carry none, unless one input has at most one (muxed, as
    // it always was). CMAF keeps every track apart (one track per file, as
    // DASH-IF IOP and dash.js want), except from a pipe, read once.
    let tracks = renditions::audio_tracks(&inputs, o.format == Container::Cmaf)?;
    plan.video_only = !tracks.is_empty();
    // Alternate audio shares each key period's key with the video: with
    // sequence IVs, segment N of every rendition would get the same IV, so
    // the renditions take derived IVs with their index in the derivation, as
    // several inputs do.
    let apart;
    let o = match renditions::derived_ivs(o, !tracks.is_empty()) {
        Some(changed) => {
            apart = changed;
            &apart
        }
        None => o,
    };
    // Renditions run through the same pipeline, as many at once as there
    // are cores (`parallel`), each cut by the same plan. The first decides
    // the cuts: one whose own keyframes put a cut elsewhere runs again,
    // following the first's cuts (and is refused if it cannot).
    let workers = parallel::workers(inputs.len(), o.overlap);
    // Alternate audio is cut where the first video rendition is. With cores
    // to spare (`overlap`), the audio tracks run beside the video, fed its
    // cuts as they are made, rather than after it (`CutFeed`).
    let feed = (o.overlap && !tracks.is_empty()).then(parallel::CutFeed::new);
    // Those of the first input take their packets from its video pass too,
    // rather than reading the file again (`media::audio::Tap`).
    let (tap, fed) = match &feed {
        Some(_) => {
            let own: Vec<usize> = tracks
                .iter()
                .filter(|t| t.input == inputs[0])
                .map(|t| t.stream)
                .collect();
            let (tap, mut receivers) = media::audio::Tap::new(&own);
            let fed: Vec<_> = tracks
                .iter()
                .map(|t| (t.input == inputs[0]).then(|| receivers.remove(0)))
                .collect();
            (Some(tap), fed)
        }
        None => (None, Vec::new()),
    };
    let tap = std::sync::Mutex::new(tap);
    let (runs, fed_audio) = std::thread::scope(|scope| {
        let audio = feed.as_ref().map(|feed| {
            let (tracks, root) = (&tracks, staged.path());
            let policy = policy.as_ref();
            let first = inputs.len();
            scope.spawn(move || {
                let quiet = shieldpack_core::progress::NoProgress;
                let cuts = AudioCuts::Fed(feed);
                run_audio(o, keyring, policy, tracks, first, cuts, fed, root, &quiet)
            })
        });
        // Only the first rendition's pass is tapped (whichever starts first).
        let tap_of = |r: usize| match r {
            0 => tap.lock().unwrap_or_else(|e| e.into_inner()).take(),
            _ => None,
        };
        let runs = parallel::ordered(inputs.len(), workers, progress, |r, p| {
            let feed = feed.as_ref().filter(|_| r == 0);
            // However the first rendition's run ends, the audio stops waiting.
            let _close = feed.map(parallel::CutFeed::closer);
            run_pipeline(
                o,
                inputs[r],
                r,
                names[r].clone(),
                keyring,
                policy.as_ref(),
                Stage::Video(&plan, feed, tap_of(r)),
                staged.path(),
                p,
            )
        });
        if let Some(feed) = &feed {
            feed.close();
        }
        let audio = audio.map(|a| a.join().expect("the audio thread does not panic"));
        (runs, audio)
    });
    let mut runs: Vec<Option<_>> = runs?.into_iter().map(Some).collect();
    let mut made: Vec<Made> = Vec::with_capacity(inputs.len());
    let mut first_summary = None;
    let mut independent = true;
    for (r, (input, name)) in inputs.iter().copied().zip(names).enumerate() {
        let run = runs[r].take().expect("each run is taken once");
        let (summary, mut w) = match made.first() {
            Some(m) if !renditions::same_cuts(&m.records, &run.1.records) => {
                let (_, w) = run;
                let dir = w.start.as_ref().map(|(_, _, d)| staged.path().join(d));
                drop(w);
                if let Some(dir) = dir.filter(|d| d.is_dir()) {
                    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                }
                let plan_r = renditions::follow(&plan, &m.records);
                run_pipeline(
                    o,
                    input,
                    r,
                    name,
                    keyring,
                    policy.as_ref(),
                    Stage::Video(&plan_r, None, None),
                    staged.path(),
                    progress,
                )?
            }
            _ => run,
        };
        if let Some(m) = made.first() {
            renditions::check_aligned(
                inputs[0],
                &m.records,
                input,
                &w.records,
                o.segment_duration,
            )?;
        }
        let (info, sel, rendition) = w.start.take().expect("a successful run started");
        let of_input = |msg: String| match multi {
            true => format!("{}: {msg}", input.display()),
            false => msg,
        };
        warnings.extend(dropped_streams_warning(&info, &sel, plan.video_only).map(of_input));
        if r == 0 {
            // The others are cut at the same times.
            warnings.extend(long_segments_warning(o, &w.records));
        }
        let broken = apple_rules(&sel.video);
        // `--apple` refused at `Start` already (`apple_refusal`).
        for (rule, what, how) in broken {
            warnings.push(of_input(format!(
                "Apple devices may refuse this package: rule {rule} of Apple's HLS Authoring Specification: {what}; to fix, {how} (--apple refuses such input)"
            )));
        }
        let rdir = staged.path().join(&rendition);
        // The tag promises that every segment decodes on its own.
        let rendition_independent = summary.dependent == 0;
        if !rendition_independent {
            warnings.push(of_input(dependent_warning(&summary)));
        }
        independent &= rendition_independent;
        if drmwire::active(o, keyring) {
            drmwire::finish_rendition(
                o,
                keyring,
                &rdir,
                w.init.as_ref(),
                &w.records,
                &mut w.playlist,
            )?;
        }
        write_media_playlist(&rdir, w.playlist, rendition_independent, map.clone())?;
        let variant = variant_of(&w.records, &sel, format!("{rendition}/index.m3u8"));
        made.push(Made {
            name: rendition,
            source: multi.then(|| file_name(input)),
            variant,
            records: w.records,
            audio: None,
            subtitle_language: None,
        });
        first_summary.get_or_insert(summary);
    }
    let summary = first_summary.expect("one input at least");
    let audio = match fed_audio {
        Some(writers) => finish_audio(o, keyring, &tracks, &made, writers?, staged.path())?,
        None => {
            let first = &made[0];
            let cuts: Vec<f64> = first.records.iter().skip(1).map(|r| r.start).collect();
            let cuts = AudioCuts::Known(&cuts);
            let writers = run_audio(
                o,
                keyring,
                policy.as_ref(),
                &tracks,
                made.len(),
                cuts,
                Vec::new(),
                staged.path(),
                progress,
            )?;
            finish_audio(o, keyring, &tracks, &made, writers, staged.path())?
        }
    };
    for m in made.iter_mut() {
        renditions::with_audio_group(&mut m.variant, &audio);
    }
    let mut media = renditions::audio_media(&tracks, &audio);
    made.extend(audio);
    // A ladder's rungs carry the source's audio but not its subtitles: those
    // come from the source itself (`title_source`), on the same clock.
    let sub_inputs: Vec<&Path> = match &o.title_source {
        Some(src) => vec![src.as_path()],
        None => inputs.clone(),
    };
    let subs = package_subtitles(
        &sub_inputs,
        &made[0].records,
        tracks.is_empty(),
        staged.path(),
    )?;
    for m in made.iter_mut().filter(|m| m.audio.is_none()) {
        m.variant.subtitles = (!subs.is_empty()).then(|| renditions::SUBS_GROUP.into());
    }
    media.extend(subs.iter().map(|(t, _, _)| renditions::subtitle_media(t)));
    // The cues, for the MPD's WebVTT sidecars.
    let mut cues = Vec::new();
    for (t, m, s) in subs {
        cues.push((m.name.clone(), t.language, s));
        made.push(m);
    }
    let master = MasterPlaylist {
        version: 3,
        independent_segments: independent,
        media,
        variants: made
            .iter()
            .filter(|m| m.audio.is_none() && m.variant.resolution.is_some())
            .map(|m| m.variant.clone())
            .collect(),
    };
    let mut master_text = master.write();
    // Byte ranges into segments: clear or SAMPLE-AES TS, clear or common
    // encryption CMAF; never whole-segment AES-128 (see `iframes`).
    let ranges = match o.format {
        Container::Ts => keyring.is_none() || o.scheme == cmaf::Scheme::SampleAes,
        Container::Cmaf => keyring.is_none() || o.scheme.common().is_some(),
    };
    if ranges {
        let write = match o.format {
            Container::Ts => iframes::write,
            Container::Cmaf => iframes::write_cmaf,
        };
        for v in &master.variants {
            let prefix = v.uri.trim_end_matches("index.m3u8");
            let rdir = staged.path().join(prefix);
            if let Some(line) = write(&rdir, prefix, v.resolution, v.codecs.as_deref())? {
                master_text.push_str(&line);
                master_text.push('\n');
            }
        }
    }
    fsutil::write_file(&staged.path().join("master.m3u8"), master_text.as_bytes())?;
    let rdirs: Vec<PathBuf> = made.iter().map(|m| staged.path().join(&m.name)).collect();
    let manifest = manifest_of(o, keyring, &summary, made);
    if let Some(c) = keyring.and_then(Keyring::provided) {
        let used: Vec<u64> = manifest.key_periods().iter().map(|p| p.0).collect();
        c.check_used(&used)?;
    }
    fsutil::write_file(
        &staged.path().join("manifest.json"),
        manifest.to_json().as_bytes(),
    )?;
    if o.dash {
        let common = keyring.and(o.scheme.common()).map(|_| o.scheme.as_str());
        let times = dash_times(staged.path(), &manifest.renditions)?;
        let text = dash_subtitles(staged.path(), &manifest, &times, &cues)?;
        let mpd = dash::Mpd {
            renditions: &manifest.renditions,
            times: &times,
            scheme: common,
            extra_protection: &|records| drmwire::mpd_protection(o, keyring, records),
            duration: manifest.source.duration,
            text: &text,
        };
        fsutil::write_file(&staged.path().join("manifest.mpd"), mpd.write().as_bytes())?;
    }
    let resolved = match (&policy, &o.policy) {
        (Some(p), Some(path)) => {
            let r = write_resolved_policy(o, p, path, &manifest, staged.path())?;
            warnings.extend(alignment_warnings(p, &r));
            Some(r)
        }
        _ => None,
    };
    for (name, bytes) in &o.extra_files {
        fsutil::write_file(&staged.path().join(name), bytes)?;
    }
    self_check(&o.input, staged.path())?;
    shieldpack_core::interrupt::check()?;
    if let Some((kr, title)) = &title {
        match keys::record_packaged(&kr.path, &o.content_id, title, o.reuse_content_id) {
            // A keyring mounted read-only (a Kubernetes secret, say) cannot
            // take the record; the check against what it already records was
            // made, so package, and say what is not remembered.
            Err(Error::Io { err, .. })
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                warnings.push(format!(
                    "{}: read-only, so it does not record that content id '{}' is {}; \
                     a different title under this id will not be refused later",
                    kr.path.display(),
                    o.content_id,
                    title_file.display()
                ))
            }
            r => r?,
        }
    }
    for rdir in &rdirs {
        fsutil::sync_dir(rdir);
    }
    fsutil::sync_dir(staged.path());
    staged.publish()?;
    if summary.dropped_leading > 0 {
        warnings.push(format!(
            "dropped {} video frames before the first keyframe (they cannot be decoded)",
            summary.dropped_leading
        ));
    }
    if summary.edit_hidden + summary.edit_reencoded > 0 {
        warnings.push(format!(
            "the input's edit list hides its first {} video frames: left out, as players do; the {} shown before the next keyframe were re-encoded (libx264) so the package starts where the edit list does",
            summary.edit_hidden, summary.edit_reencoded
        ));
    }
    if summary.edit_unhonoured > 0 {
        warnings.push(format!(
            "the input's edit list hides its first {} video frames, which players do not show; the package shows them (only H.264 is re-encoded at an edit list's start); to leave them out, cut at a keyframe or re-encode, e.g. ffmpeg -i {} -c:a copy cut.mp4",
            summary.edit_unhonoured,
            o.input.display()
        ));
    }
    Ok(Outcome {
        manifest,
        video_frames: summary.video_frames,
        policy: resolved,
        warnings,
    })
}

/// What was staged in `dir` against `verify`'s structural checks (no keys,
/// no reading segments again), so that `package` never publishes what its
/// own `verify` rejects. A defect here is a bug, or an input whose timing
/// fooled the segmenter; the staged folder goes when `package` returns.
fn self_check(input: &Path, dir: &Path) -> Result<()> {
    let defects = verify::structure(dir)?;
    let Some(first) = defects.first() else {
        return Ok(());
    };
    let more = match defects.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Err(Error::invalid_file(
        input,
        format!(
            "the package made from it fails verify's checks, so nothing was published: {}: {}{more}",
            first.file, first.message
        ),
        format!(
            "this is a bug in shieldpack, or the input's time stamps are odd (`ffprobe -show_packets {}` lists them): please report it with that output; remuxing first (ffmpeg -i {} -c copy fixed.mkv) may help",
            input.display(),
            input.display()
        ),
    ))
}

/// Loads `--policy`, checked against the input's length, with its warnings.
fn load_policy(
    o: &Options,
    keyring: Option<&Keyring>,
    warnings: &mut Vec<String>,
) -> Result<Option<Policy>> {
    Ok(match &o.policy {
        None => None,
        Some(path) => {
            if keyring.is_none() {
                return Err(Error::arg(
                    "a scene policy needs encryption, but no keyring was given",
                    "pass --keyring KEYRING (a policy's clear scenes stay clear on their own)",
                ));
            }
            // Only a policy needs the length up front, to check scenes against it.
            let duration = media::probe(&o.input)?.duration;
            let (p, notes) = policy::load(path, duration)?;
            for d in notes {
                warnings.push(format!(
                    "{}:{}:{}: {}",
                    path.display(),
                    d.line,
                    d.column,
                    d.message
                ));
            }
            Some(p)
        }
    })
}

/// Where segments must be cut besides the target grid: every scene start and
/// end, and with time rotation every period boundary.
fn cut_plan(o: &Options, policy: Option<&Policy>) -> segment::Plan {
    let cut_every = match o.rotation {
        Rotation::Time { seconds } => Some(seconds),
        _ => None,
    };
    // Scene ends matter too: the gap after a scene must not share its key.
    let mut forced: Vec<f64> = policy
        .into_iter()
        .flat_map(|p| p.scenes.iter().flat_map(|s| [s.start, s.end]))
        .collect();
    forced.sort_by(f64::total_cmp);
    forced.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    segment::Plan {
        target: o.segment_duration,
        forced_cuts: forced,
        cut_every,
        format: o.format,
        video_only: false,
    }
}

/// Runs the pipeline: this thread demuxes and muxes, the writer encrypts,
/// hashes and writes into `root` (on a thread of its own once a core is at
/// hand), and a third thread flushes each finished segment to disk.
#[allow(clippy::too_many_arguments)]
fn run_pipeline<'a>(
    o: &'a Options,
    input: &'a Path,
    rendition_index: usize,
    rendition_name: Option<String>,
    keyring: Option<&'a Keyring>,
    policy: Option<&'a Policy>,
    stage: Stage<'_, 'a>,
    root: &'a Path,
    progress: &dyn Progress,
) -> Result<(segment::Summary, Writer<'a>)> {
    let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(8);
    // Bounded, so a disk slower than the packaging holds back the writer
    // rather than piling up open files.
    // A CMAF fragment left to the syncer to write holds its buffer (a few
    // MiB): none waits, the writer hands it over once the syncer is done
    // with the one before (a copy into the page cache, quicker than the
    // hashing before it), so four buffers at most are in use (muxer, one
    // waiting for the writer, writer, syncer) and peak memory stays flat.
    let depth = match o.format {
        Container::Cmaf => 0,
        Container::Ts => 32,
    };
    let (finished_tx, finished_rx) = mpsc::sync_channel::<Finished>(depth);
    let syncer_spares = spare_tx.clone();
    let hasher_spares = spare_tx.clone();
    // CMAF fragments are hashed beside their write (`Deferred`); TS
    // segments are hashed as they are encrypted, and need no hasher.
    let (hash_tx, hash_rx) = match o.format {
        Container::Cmaf => {
            let (tx, rx) = mpsc::sync_channel::<Arc<Deferred>>(0);
            (Some(tx), Some(rx))
        }
        Container::Ts => (None, None),
    };
    let w = Writer {
        o,
        keyring,
        root,
        rendition_index,
        rendition_name,
        track: match (o.key_scope, &stage) {
            (KeyScope::TrackType, Stage::Audio { .. }) => Some(TrackType::Audio),
            _ => None,
        },
        start: None,
        cur: None,
        last_key: None,
        policy,
        counter: PeriodCounter::new(o.rotation),
        records: Vec::new(),
        playlist: Vec::new(),
        spares: spare_tx,
        finished: Some(finished_tx),
        init: None,
        hashes: hash_tx,
        feed: match stage {
            Stage::Video(_, feed, _) => feed,
            Stage::Audio { .. } => None,
        },
    };
    std::thread::scope(|scope| -> Result<(segment::Summary, Writer)> {
        // Each segment is flushed to disk while the next ones are made, so
        // that the rename which publishes the package (and may delete the
        // one it replaces) never points at data still only in memory.
        let syncer = scope.spawn(move || -> Result<()> {
            for Finished {
                mut file,
                path,
                deferred,
            } in finished_rx
            {
                if let Some(d) = deferred {
                    use std::io::Write as _;
                    file.write_all(&d.head)
                        .and_then(|()| file.write_all(&d.buf[d.mdat.clone()]))
                        .map_err(|e| Error::io(&path, e))?;
                    Deferred::done(d, &syncer_spares);
                }
                file.sync_data().map_err(|e| Error::flush(&path, e))?;
            }
            Ok(())
        });
        // Each CMAF fragment's digest, by record, as it is written.
        let hasher = hash_rx.map(|hash_rx| {
            scope.spawn(move || -> Vec<(usize, String)> {
                let mut digests = Vec::new();
                for d in hash_rx {
                    let mut h = d.hasher.clone();
                    h.update(&d.head);
                    h.update(&d.buf[d.mdat.clone()]);
                    digests.push((d.record, hex::encode(h.finalize())));
                    Deferred::done(d, &hasher_spares);
                }
                digests
            })
        });
        // Both halves take turns on this thread until a second core is at
        // hand: from the first event with `overlap`, or once `idle` lends one.
        // Then the writer moves to a thread of its own for the rest, and this
        // thread only demuxes and muxes.
        let mut here = Some(w);
        let mut moved = None;
        let sink = |ev| {
            if let Some(w) = here.as_mut() {
                let lent = if o.overlap {
                    None
                } else {
                    let Some(core) = o.idle.as_ref().and_then(|l| l.take()) else {
                        return w.handle(ev);
                    };
                    Some(core)
                };
                let mut w = here.take().expect("the writer is here");
                // Enough chunks in flight to keep both threads busy; memory stays a few MiB.
                // A CMAF muxer hands over a whole fragment at a time (megabytes
                // each at high rates), so one waits at most.
                let depth = match o.format {
                    Container::Cmaf => 1,
                    _ => 8,
                };
                let (tx, rx) = mpsc::sync_channel::<segment::Event>(depth);
                let writer = scope.spawn(move || {
                    let failed = w.drain(rx);
                    drop(lent);
                    (w, failed)
                });
                moved = Some((tx, writer));
            }
            let (tx, _) = moved.as_ref().expect("the writer has moved");
            tx.send(ev).map_err(|_| Error::Interrupted)
        };
        let demuxed = match stage {
            Stage::Video(plan, _, tap) => {
                segment::run_tapped(input, plan, tap, progress, spare_rx, sink)
            }
            Stage::Audio { stream, cuts, fed } => match cuts {
                AudioCuts::Known(cuts) => {
                    let cuts = cuts.iter().copied();
                    media::audio::run(input, stream, o.format, cuts, fed, progress, spare_rx, sink)
                }
                AudioCuts::Fed(feed) => {
                    let cuts = feed.iter();
                    media::audio::run(input, stream, o.format, cuts, fed, progress, spare_rx, sink)
                }
            },
        };
        let (made, mut w) = match moved {
            None => (demuxed, here.expect("the writer stayed")),
            Some((tx, writer)) => {
                drop(tx);
                let (w, failed) = writer.join().expect("the writer thread does not panic");
                // The writer's error explains the demuxer's `Interrupted`.
                (failed.map_or(demuxed, Err), w)
            }
        };
        w.finished = None; // the syncer ends once it has caught up
        w.hashes = None; // and the hasher
        let digests = hasher.map(|h| h.join().expect("the hasher does not panic"));
        for (record, digest) in digests.into_iter().flatten() {
            // Absent only when the writer failed before recording it.
            if let Some(r) = w.records.get_mut(record) {
                r.sha256 = digest;
            }
        }
        let synced = syncer.join().expect("the sync thread does not panic");
        // A flush that failed explains why the writer stopped.
        let made = synced.and(made)?;
        w.default_kid_to_first_used()?;
        Ok((made, w))
    })
}

/// What one run of the pipeline cuts: a video rendition (with its muxed
/// audio, or none), or one audio stream at the video's cuts.
enum Stage<'p, 'f> {
    /// With the first rendition, the feed its cuts go to as it makes them,
    /// and the tap its audio tracks' packets go to as they are read.
    Video(
        &'p segment::Plan,
        Option<&'f parallel::CutFeed>,
        Option<media::audio::Tap>,
    ),
    Audio {
        stream: usize,
        cuts: AudioCuts<'p>,
        fed: Option<media::audio::Feed>,
    },
}

/// Where an audio track is cut: at the first video rendition's finished
/// cuts, or at those it makes while the audio runs beside it.
#[derive(Clone, Copy)]
enum AudioCuts<'p> {
    Known(&'p [f64]),
    Fed(&'p parallel::CutFeed),
}

/// Packages every alternate audio track through the pipeline, cut where the
/// first video rendition is (`cuts`), as renditions after the video ones,
/// the first numbered `first` (their IVs derive from their index:
/// `Keyring::rendition_iv`). `finish_audio` completes them.
#[allow(clippy::too_many_arguments)]
fn run_audio<'a>(
    o: &'a Options,
    keyring: Option<&'a Keyring>,
    policy: Option<&'a Policy>,
    tracks: &'a [renditions::AudioTrack],
    first: usize,
    cuts: AudioCuts<'a>,
    mut fed: Vec<Option<media::audio::Feed>>,
    root: &'a Path,
    progress: &dyn Progress,
) -> Result<Vec<Writer<'a>>> {
    let mut out = Vec::with_capacity(tracks.len());
    fed.resize_with(tracks.len(), || None);
    for ((j, t), fed) in tracks.iter().enumerate().zip(fed) {
        let stage = Stage::Audio {
            stream: t.stream,
            cuts,
            fed,
        };
        let name = Some(t.name.clone());
        let (_, w) = run_pipeline(
            o,
            &t.input,
            first + j,
            name,
            keyring,
            policy,
            stage,
            root,
            progress,
        )?;
        out.push(w);
    }
    Ok(out)
}

/// Completes the audio renditions `run_audio` cut: their last segment
/// ends with the video's, their cuts are checked against the video's, and
/// their DRM signalling and playlists are written.
fn finish_audio(
    o: &Options,
    keyring: Option<&Keyring>,
    tracks: &[renditions::AudioTrack],
    video: &[Made],
    writers: Vec<Writer>,
    root: &Path,
) -> Result<Vec<Made>> {
    let first = &video[0];
    let mut out = Vec::with_capacity(tracks.len());
    for (t, mut w) in tracks.iter().zip(writers) {
        w.start.take();
        // The last audio frame ends within a frame of the last video frame:
        // the title lasts what its video does, in every playlist (verify
        // checks each against the manifest's duration).
        if let (Some(v), Some(a), Some(p)) = (
            first.records.last(),
            w.records.last_mut(),
            w.playlist.last_mut(),
        ) {
            a.duration = ms(v.start + v.duration - a.start);
            p.duration = a.duration;
        }
        renditions::check_aligned(
            &o.input,
            &first.records,
            &t.input,
            &w.records,
            o.segment_duration,
        )?;
        // A CMAF audio track signals the DRM systems as video does.
        if drmwire::active(o, keyring) {
            let rdir = root.join(&t.name);
            let init = w.init.as_ref();
            drmwire::finish_rendition(o, keyring, &rdir, init, &w.records, &mut w.playlist)?;
        }
        write_media_playlist(
            &root.join(&t.name),
            w.playlist,
            true,
            (o.format == Container::Cmaf).then(|| "init.mp4".to_string()),
        )?;
        let sizes: Vec<(f64, u64)> = w.records.iter().map(|r| (r.duration, r.size)).collect();
        let target = bandwidth::target_duration(w.records.iter().map(|r| r.duration));
        out.push(Made {
            name: t.name.clone(),
            source: Some(file_name(&t.input)),
            variant: Variant {
                bandwidth: bandwidth::peak_bandwidth(&sizes, target),
                average_bandwidth: Some(bandwidth::average_bandwidth(&sizes)),
                resolution: None,
                codecs: Some(t.codecs.clone()),
                frame_rate: None,
                audio: None,
                subtitles: None,
                uri: format!("{}/index.m3u8", t.name),
            },
            records: w.records,
            audio: Some((t.language.clone(), t.channels)),
            subtitle_language: None,
        });
    }
    Ok(out)
}

/// Writes every text subtitle track of the inputs as a WebVTT rendition,
/// cut where the first video rendition was (`webvtt`), clear; with each,
/// its cues (for `--dash`'s sidecars).
fn package_subtitles(
    inputs: &[&Path],
    first: &[SegmentRecord],
    muxed_audio: bool,
    root: &Path,
) -> Result<Vec<(renditions::SubtitleTrack, Made, media::subtitles::Subtitles)>> {
    let mut out = Vec::new();
    for t in renditions::subtitle_tracks(inputs)? {
        let subs = media::subtitles::read(&t.input, t.stream, muxed_audio)?;
        let (records, playlist) = webvtt::write(root, &t.name, &subs, first)?;
        write_media_playlist(&root.join(&t.name), playlist, true, None)?;
        let made = Made {
            name: t.name.clone(),
            source: Some(file_name(&t.input)),
            variant: Variant {
                bandwidth: 0,
                average_bandwidth: None,
                resolution: None,
                codecs: Some("wvtt".into()),
                frame_rate: None,
                audio: None,
                subtitles: None,
                uri: format!("{}/index.m3u8", t.name),
            },
            records,
            audio: None,
            subtitle_language: t.language.clone(),
        };
        out.push((t, made, subs));
    }
    Ok(out)
}

/// Writes the rendition's VOD media playlist.
fn write_media_playlist(
    rdir: &Path,
    segments: Vec<MediaSegment>,
    independent: bool,
    map: Option<String>,
) -> Result<()> {
    let target_duration = bandwidth::target_duration(segments.iter().map(|s| s.duration));
    let mut media = MediaPlaylist {
        version: 3,
        target_duration,
        media_sequence: 0,
        playlist_type: Some(PlaylistType::Vod),
        independent_segments: independent,
        map,
        segments,
        end_list: true,
    };
    media.version = media.required_version().max(3);
    fsutil::write_file(&rdir.join("index.m3u8"), media.write().as_bytes())
}

/// The sidecar file of each subtitle rendition for the MPD.
const SIDECAR: &str = "subs.vtt";

/// Writes each subtitle rendition's cues as one WebVTT file beside its
/// segments (`webvtt::sidecar_text`) and returns the MPD's text tracks.
/// Cue times count from the first video keyframe, the first video
/// segment's record start; the MPD's Period starts at media time zero with
/// no presentationTimeOffset, where that keyframe is at the video track's
/// first earliest presentation time (`dashtime`): the cues move by the
/// difference, so they show with the frames they showed with.
fn dash_subtitles(
    dir: &Path,
    manifest: &Manifest,
    times: &[Option<dashtime::TrackTimes>],
    cues: &[(String, Option<String>, media::subtitles::Subtitles)],
) -> Result<Vec<dash::TextTrack>> {
    let video = manifest
        .renditions
        .iter()
        .zip(times)
        .find(|(r, _)| r.kind.is_none());
    let shift = match video {
        Some((r, Some(t))) => match (t.segments.first(), r.segments.first()) {
            (Some(&(ept, _)), Some(s)) => ept as f64 / f64::from(t.timescale) - s.start,
            _ => 0.0,
        },
        _ => 0.0,
    };
    let mut out = Vec::new();
    for (name, language, subs) in cues {
        let text = webvtt::sidecar_text(&subs.cues, shift);
        let uri = format!("{name}/{SIDECAR}");
        fsutil::write_file(&dir.join(&uri), text.as_bytes())?;
        let duration = manifest.source.duration.max(1e-3);
        out.push(dash::TextTrack {
            name: name.clone(),
            language: language.clone(),
            uri,
            bandwidth: (text.len() as f64 * 8.0 / duration).ceil() as u64,
        });
    }
    Ok(out)
}

/// Each rendition's CMAF track times for the MPD (`dashtime`); none for
/// the renditions the MPD leaves out (WebVTT subtitles).
fn dash_times(
    dir: &Path,
    renditions: &[shieldpack_core::manifest::Rendition],
) -> Result<Vec<Option<dashtime::TrackTimes>>> {
    renditions
        .iter()
        .map(|r| {
            if !matches!(r.kind.as_deref(), None | Some("audio")) {
                return Ok(None);
            }
            let segments: Vec<PathBuf> = r.segments.iter().map(|s| dir.join(&s.uri)).collect();
            dashtime::read(&dir.join(&r.name).join("init.mp4"), &segments).map(Some)
        })
        .collect()
}

/// The rendition's EXT-X-STREAM-INF: measured peak and average bandwidth
/// (RFC 8216 4.3.4.2), CODECS, RESOLUTION and FRAME-RATE.
fn variant_of(records: &[SegmentRecord], sel: &media::Selection, uri: String) -> Variant {
    let sizes: Vec<(f64, u64)> = records.iter().map(|r| (r.duration, r.size)).collect();
    // The window is the playlist's target duration, not the requested one:
    // keyframes farther apart than --segment-duration make longer segments.
    let target = bandwidth::target_duration(records.iter().map(|r| r.duration));
    let average = bandwidth::average_bandwidth(&sizes);
    let peak = bandwidth::peak_bandwidth(&sizes, target);
    let (w, h) = (sel.video.width.unwrap_or(0), sel.video.height.unwrap_or(0));
    Variant {
        bandwidth: peak,
        average_bandwidth: Some(average),
        resolution: Some((w, h)),
        codecs: Some(media::MediaInfo::codecs_attr(sel)),
        frame_rate: sel.video.frame_rate.map(|f| (f * 1000.0).round() / 1000.0),
        audio: None,
        subtitles: None,
        uri,
    }
}

/// One rendition as written: its folder, the input it came from (with
/// several inputs), its EXT-X-STREAM-INF and its segments.
pub(crate) struct Made {
    pub name: String,
    pub source: Option<String>,
    pub variant: Variant,
    pub records: Vec<SegmentRecord>,
    /// For an alternate audio rendition: its language and channels.
    pub audio: Option<(Option<String>, Option<u32>)>,
    /// For a WebVTT subtitle rendition: its language.
    pub subtitle_language: Option<String>,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `manifest.json` for the package as written.
fn manifest_of(
    o: &Options,
    keyring: Option<&Keyring>,
    summary: &segment::Summary,
    made: Vec<Made>,
) -> Manifest {
    Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        tool: "shieldpack".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        content_id: o.content_id.clone(),
        keyring_fingerprint: keyring.map(|k| k.fingerprint().to_string()),
        encryption: if keyring.is_some() {
            o.scheme.as_str()
        } else {
            "none"
        }
        .into(),
        iv_mode: o.iv.as_str().into(),
        key_uri_template: o.key_uri.clone(),
        segment_duration: o.segment_duration,
        rotation: o.rotation,
        rotation_config: o.rotation_config.clone(),
        key_scope: o.key_scope,
        drm: drmwire::record(o, keyring),
        source: Source {
            file: file_name(o.title_source.as_deref().unwrap_or(&o.input)),
            duration: ms(summary.duration),
            video_frames: summary.video_frames,
        },
        renditions: made
            .into_iter()
            .map(|m| {
                let (w, h) = m.variant.resolution.unwrap_or((0, 0));
                let (kind, language, channels) = match m.audio {
                    Some((l, c)) => (Some("audio".to_string()), l, c),
                    None if m.variant.codecs.as_deref() == Some("wvtt") => {
                        (Some("subtitles".to_string()), m.subtitle_language, None)
                    }
                    None => (None, None, None),
                };
                // As the writer chose it (`Writer::track`), from the same
                // kind and dimensions.
                let track_type = match (o.key_scope, kind.as_deref()) {
                    (KeyScope::Period, _) | (_, Some("subtitles")) => None,
                    (KeyScope::TrackType, Some("audio")) => Some(TrackType::Audio),
                    (KeyScope::TrackType, _) => Some(TrackType::of_video(w, h)),
                };
                Rendition {
                    name: m.name,
                    source: m.source,
                    kind,
                    language,
                    channels,
                    playlist: m.variant.uri,
                    bandwidth: m.variant.bandwidth,
                    average_bandwidth: m.variant.average_bandwidth.unwrap_or(0),
                    resolution: match m.variant.resolution {
                        Some(_) => format!("{w}x{h}"),
                        None => String::new(),
                    },
                    frame_rate: m.variant.frame_rate,
                    track_type,
                    codecs: m.variant.codecs.unwrap_or_default(),
                    segments: m.records,
                }
            })
            .collect(),
    }
}

/// Writes `policy.json`, the policy as packaged, for a license server.
fn write_resolved_policy(
    o: &Options,
    p: &Policy,
    path: &Path,
    manifest: &Manifest,
    root: &Path,
) -> Result<resolved::Resolved> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = resolved::resolve(
        p,
        &file_name,
        &o.content_id,
        &manifest.renditions[0].name,
        &manifest.renditions[0].segments,
    );
    for other in manifest.renditions[1..]
        .iter()
        .filter(|x| resolved::keyed(x))
    {
        r.add_kids_of(&other.segments);
    }
    fsutil::write_file(&root.join(resolved::FILE), r.to_json().as_bytes())?;
    Ok(r)
}

/// Scenes can only start on keyframes. Says so when a scene got no segment,
/// when a less protected scene lost its last frames to a stronger one that
/// starts between keyframes, or (should any remain) when a scene's first
/// frames went out in the segments of a less protected scene.
fn alignment_warnings(p: &Policy, r: &resolved::Resolved) -> Vec<String> {
    let hint = "re-encode with keyframes at the scene starts, e.g. ffmpeg -force_key_frames \"HH:MM:SS,...\"";
    let mut out = Vec::new();
    for (sc, rs) in p.scenes.iter().zip(&r.scenes) {
        let Some(span) = &rs.span else {
            out.push(format!(
                "scene '{}' ({} to {}) got no segment of its own: the input has no keyframe inside it, so its frames are in the segments before it; {hint}",
                sc.label,
                shieldpack_core::timefmt::format_hms(sc.start),
                shieldpack_core::timefmt::format_hms(sc.end)
            ));
            continue;
        };
        if span.start + 1e-3 < sc.start {
            // A segment that began before the scene holds its first frames,
            // so it took the scene's protection (`stronger_scene`): whatever
            // it began in gives up its last frames to it.
            let what = match region_of(p, span.start) {
                Region::Scene(i) => format!(
                    "scene '{}' ({})",
                    p.scenes[i].label,
                    p.scenes[i].level.as_str()
                ),
                Region::Gap(_) => "the stretch no scene covers".to_string(),
            };
            out.push(format!(
                "{what} loses its last {:.3}s to scene '{}' ({}), which starts at {} between keyframes: the segment from {} holds both and is protected as '{}'; {hint}",
                sc.start - span.start,
                sc.label,
                sc.level.as_str(),
                shieldpack_core::timefmt::format_hms(sc.start),
                shieldpack_core::timefmt::format_hms(span.start),
                sc.label,
            ));
        }
        if span.start > sc.start + 1e-3 {
            // The frames from the requested start to the keyframe are in the
            // segments of whatever holds that time: a lower level there, or an
            // untagged gap for a scene above L3, is a protection hole.
            let holder = r.scenes.iter().find(|o| {
                o.span
                    .as_ref()
                    .is_some_and(|s| s.start <= sc.start + 1e-6 && sc.start + 1e-6 < s.end)
            });
            let as_what = match holder {
                Some(h) if h.drm_level < sc.level => {
                    Some(format!("'{}' ({})", h.label, h.drm_level.as_str()))
                }
                None if sc.level > Level::L3 => {
                    Some("a stretch no scene covers (encrypted, no scene tag)".to_string())
                }
                _ => None,
            };
            if let Some(as_what) = as_what {
                out.push(format!(
                    "scene '{}' ({}) starts at the next keyframe, {}: its first {:.3}s go out as part of {as_what}; {hint}",
                    sc.label,
                    sc.level.as_str(),
                    shieldpack_core::timefmt::format_hms(span.start),
                    span.start - sc.start,
                ));
            }
        }
    }
    out
}

/// The default content id for an input: its file stem when that is a valid
/// id, else a readable form plus a hash of the stem, so that two inputs never
/// get one id (and one set of keys and IVs) by name alone
/// (`keys::unique_content_id`).
pub fn default_content_id(input: &Path) -> String {
    shieldpack_core::keys::unique_content_id(
        input
            .file_stem()
            .map(|s| s.as_encoded_bytes())
            .unwrap_or_default(),
    )
}

/// The rules of Apple's "HLS Authoring Specification for Apple Devices"
/// (General Authoring Requirements, 1. Video) that the video breaks, as
/// (rule, what, how to fix). Numbers as in the edition published at
/// developer.apple.com/library/.../HLSAuthoringSpec/Requirements.html:
/// 1.3 H.264 at most High profile level 4.2, 1.5 HEVC only in fMP4 (and
/// shieldpack writes MPEG-TS), 1.10 interlaced content must be
/// de-interlaced. Later editions renumber some rules; the text is the same.
fn apple_rules(v: &media::StreamInfo) -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    match v.codec.as_str() {
        "hevc" => out.push((
            "1.5",
            "HEVC video must be in fragmented MP4, and shieldpack writes MPEG-TS".to_string(),
            "re-encode to H.264, e.g. ffmpeg -i IN -c:v libx264 -profile:v high -level 4.2 -pix_fmt yuv420p -c:a copy OUT.mp4",
        )),
        "h264" => {
            // FFmpeg's numbers: 66 Baseline, 77 Main, 88 Extended, 100 High;
            // 110 High 10, 122 High 4:2:2, 244 High 4:4:4 and 44 CAVLC 4:4:4
            // are above High. 0x200 and 0x800 flag constrained and intra.
            // The CODECS string (avc1.PPCCLL, from the avcC) holds both when
            // the demuxer has not filled in FFmpeg's.
            let pcl = v
                .codecs
                .as_deref()
                .and_then(|c| c.strip_prefix("avc1."))
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            let profile = v
                .profile
                .map(|p| p & !0xa00)
                .or(pcl.map(|x| (x >> 16) as i32));
            let level = v.level.or(pcl.map(|x| (x & 0xff) as i32)).unwrap_or(0);
            let above = matches!(profile, Some(110 | 122 | 244 | 44));
            let name = match profile {
                Some(66) => "Baseline",
                Some(77) => "Main",
                Some(88) => "Extended",
                Some(100) => "High",
                Some(110) => "High 10",
                Some(122) => "High 4:2:2",
                Some(244) => "High 4:4:4 Predictive",
                Some(44) => "CAVLC 4:4:4 Intra",
                _ => "",
            };
            if above || level > 42 {
                out.push((
                    "1.3",
                    format!(
                        "H.264 must be at most High profile, level 4.2, and this is {} level {}.{}",
                        if name.is_empty() { "an unknown profile" } else { name },
                        level / 10,
                        level % 10
                    ),
                    "re-encode, e.g. ffmpeg -i IN -c:v libx264 -profile:v high -level 4.2 -pix_fmt yuv420p -c:a copy OUT.mp4 (add -vf scale=-2:1080 for 4K)",
                ));
            }
        }
        _ => {}
    }
    if v.interlaced {
        out.push((
            "1.10",
            "interlaced video must be de-interlaced".to_string(),
            "de-interlace, e.g. ffmpeg -i IN -vf bwdif=mode=send_field -c:v libx264 -c:a copy OUT.mp4",
        ));
    }
    out
}

/// With `--apple`, the first of Apple's rules the video breaks, as the
/// error; checked as soon as the input is probed.
fn apple_refusal(o: &Options, v: &media::StreamInfo) -> Result<()> {
    match apple_rules(v).first() {
        Some((rule, what, how)) if o.apple => Err(Error::invalid_file(
            &o.input,
            format!("breaks rule {rule} of Apple's HLS Authoring Specification (--apple): {what}"),
            (*how).to_string(),
        )),
        _ => Ok(()),
    }
}

/// Names the streams of the input that the package leaves out (it carries
/// one video and at most one audio stream), so nothing goes silently.
/// With `audio_apart`, audio tracks are alternate renditions, not dropped.
fn dropped_streams_warning(
    info: &media::MediaInfo,
    sel: &media::Selection,
    audio_apart: bool,
) -> Option<String> {
    let kept = [Some(sel.video.index), sel.audio.as_ref().map(|a| a.index)];
    let dropped: Vec<String> = info
        .streams
        .iter()
        .filter(|s| !kept.contains(&Some(s.index)))
        .filter(|s| !(audio_apart && s.kind == "audio" && s.codecs.is_some()))
        .filter(|s| {
            !(s.kind == "subtitle" && media::subtitles::TEXT_CODECS.contains(&s.codec.as_str()))
        })
        .map(|s| {
            let lang = s
                .language
                .as_deref()
                .map(|l| format!(", language {l}"))
                .unwrap_or_default();
            format!("#{} {} ({}{lang})", s.index, s.kind, s.codec)
        })
        .collect();
    if dropped.is_empty() {
        return None;
    }
    if audio_apart {
        return Some(format!(
            "left out {} stream{} of {}: {}. The package carries stream #{} (video), every audio track \
             as alternate audio and every text subtitle track as WebVTT",
            dropped.len(),
            if dropped.len() == 1 { "" } else { "s" },
            info.path.display(),
            dropped.join(", "),
            sel.video.index,
        ));
    }
    Some(format!(
        "left out {} stream{} of {}: {}. The package carries stream #{} (video){}; \
         to carry another audio track instead, remux it first, e.g. ffmpeg -i IN -map 0:v:0 -map 0:a:1 -c copy OUT.mp4",
        dropped.len(),
        if dropped.len() == 1 { "" } else { "s" },
        info.path.display(),
        dropped.join(", "),
        sel.video.index,
        sel.audio
            .as_ref()
            .map(|a| format!(" and #{} (audio)", a.index))
            .unwrap_or_default(),
    ))
}

/// Segments end at keyframes: keyframes farther apart than the requested
/// duration make longer segments, which players buffer and switch slowly on.
/// Says how many ran over 1.5 times `--segment-duration`, and how to fix it.
fn long_segments_warning(o: &Options, records: &[SegmentRecord]) -> Option<String> {
    let limit = 1.5 * o.segment_duration;
    let long: Vec<&SegmentRecord> = records.iter().filter(|r| r.duration > limit).collect();
    let longest = long
        .iter()
        .max_by(|a, b| a.duration.total_cmp(&b.duration))?;
    let n = o.segment_duration;
    Some(format!(
        "{} of {} segments last longer than 1.5 times --segment-duration {n}: the longest, {}, \
         lasts {:.3}s, because the input has no keyframe sooner. Re-encode with a keyframe every {n}s, \
         e.g. ffmpeg -i IN -c:v libx264 -force_key_frames 'expr:gte(t,n_forced*{n})' -c:a copy OUT.mp4",
        long.len(),
        records.len(),
        longest.uri,
        longest.duration,
    ))
}

/// Why the playlists leave out EXT-X-INDEPENDENT-SEGMENTS, and how to encode
/// so that they need not.
fn dependent_warning(summary: &segment::Summary) -> String {
    let open = summary.dependent.saturating_sub(summary.refresh);
    let mut why = Vec::new();
    let mut how = Vec::new();
    if open > 0 {
        why.push(format!(
            "{open} start at an open-GOP keyframe and hold pictures predicted from the GOP before"
        ));
        how.push("closed GOPs (x264: open-gop=0, its default; x265: --no-open-gop)");
    }
    if summary.refresh > 0 {
        why.push(format!(
            "{} start in a gradual intra refresh, at a keyframe that is not an intra picture",
            summary.refresh
        ));
        how.push("IDR keyframes instead of intra refresh (x264, x265: no intra-refresh)");
    }
    format!(
        "{} of {} segments need the segment before to decode: {}. So the playlists leave out \
         EXT-X-INDEPENDENT-SEGMENTS; a player that starts or seeks there drops or garbles their \
         first pictures. For segments that decode on their own, re-encode with {}",
        summary.dependent,
        summary.segments,
        why.join("; "),
        how.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Every file under `root`, by relative path.
    fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.expect("walk the package"))
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                (rel, std::fs::read(e.path()).expect("read a package file"))
            })
            .collect()
    }

    /// Lends one core to the pipeline once it has reached `at` milliseconds.
    #[derive(Debug)]
    struct LendAt {
        at: u64,
        reached: AtomicBool,
        lent: AtomicUsize,
    }

    impl Progress for LendAt {
        fn set_position(&self, pos: u64) {
            if pos >= self.at {
                self.reached.store(true, Ordering::SeqCst);
            }
        }
    }

    impl CoreLender for LendAt {
        fn take(&self) -> Option<Box<dyn Send>> {
            let free = self.reached.load(Ordering::SeqCst)
                && self
                    .lent
                    .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
            free.then(|| Box::new(()) as Box<dyn Send>)
        }
    }

    #[test]
    fn the_pipeline_on_one_thread_writes_the_same_package_as_on_two() {
        let tmp = tempfile::tempdir().unwrap();
        let kr_path = tmp.path().join("kr");
        shieldpack_core::keys::create(&kr_path, vec![], &[]).unwrap();
        let kr = shieldpack_core::keys::open(&kr_path, &[]).unwrap();
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip.mp4");
        // Two threads; one; and one until a core is lent in the third segment,
        // inside the second key period, with a segment open in the writer.
        let lend = Arc::new(LendAt {
            at: 4500,
            reached: AtomicBool::new(false),
            lent: AtomicUsize::new(0),
        });
        let trees: Vec<_> = [(true, false), (false, false), (false, true)]
            .into_iter()
            .map(|(overlap, lent)| {
                let o = Options {
                    input: input.clone(),
                    more_inputs: Vec::new(),
                    title_source: None,
                    output: tmp.path().join(format!("overlap-{overlap}-lent-{lent}")),
                    content_id: "clip".into(),
                    segment_duration: 2.0,
                    rotation: Rotation::Segments { count: 2 },
                    key_uri: "keys/{kid}.key".into(),
                    iv: IvMode::Derived,
                    force: false,
                    extra_files: Vec::new(),
                    clean_abandoned: false,
                    reuse_content_id: false,
                    policy: None,
                    rotation_config: None,
                    overlap,
                    idle: lent.then(|| Arc::clone(&lend) as Arc<dyn CoreLender>),
                    apple: false,
                    drm: Vec::new(),
                    drm_options: Default::default(),
                    format: Container::Ts,
                    scheme: cmaf::Scheme::Aes128,
                    dash: false,
                    key_scope: KeyScope::Period,
                };
                let progress: &dyn Progress = if lent {
                    &*lend
                } else {
                    &shieldpack_core::progress::NoProgress
                };
                let made = package(&o, Some(&kr), progress).unwrap();
                assert!(
                    made.manifest.segments().count() >= 5,
                    "{overlap}: too few segments"
                );
                tree(&o.output)
            })
            .collect();
        let segments = trees[0]
            .keys()
            .filter(|p| p.extension() == Some("ts".as_ref()));
        assert!(segments.count() >= 5);
        assert!(trees[0] == trees[1], "one thread wrote another package");
        assert_eq!(
            lend.lent.load(Ordering::SeqCst),
            1,
            "the lent core was not taken"
        );
        assert!(
            trees[0] == trees[2],
            "moving the writer changed the package"
        );
    }

    #[test]
    fn periods() {
        assert_eq!(period_of(Rotation::Segments { count: 2 }, 5, 0.0), 2);
        assert_eq!(
            period_of(Rotation::Time { seconds: 10.0 }, 0, 19.999_999_5),
            2
        );
        assert_eq!(period_of(Rotation::Time { seconds: 10.0 }, 0, 9.5), 0);
        assert_eq!(period_of(Rotation::None, 9, 99.0), 0);
    }

    #[test]
    fn policy_periods_advance_at_scene_and_rotation_boundaries() {
        let mut c = PeriodCounter {
            rotation: Rotation::Segments { count: 2 },
            last: None,
            region_first: 0,
            period: 0,
        };
        let regions = [
            Region::Scene(0),
            Region::Scene(0),
            Region::Scene(0),
            Region::Gap(1),
            Region::Scene(1),
            Region::Scene(1),
        ];
        let got: Vec<u64> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| c.next(*r, i, i as f64 * 2.0))
            .collect();
        assert_eq!(got, vec![0, 0, 1, 2, 3, 3]);
        let mut c = PeriodCounter {
            rotation: Rotation::Time { seconds: 5.0 },
            last: None,
            region_first: 0,
            period: 0,
        };
        let got: Vec<u64> = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
            .iter()
            .enumerate()
            .map(|(i, t)| c.next(Region::Scene(usize::from(*t >= 8.0)), i, *t))
            .collect();
        // Time grid at 5 s and 10 s, scene change at 8 s.
        assert_eq!(got, vec![0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn a_segment_holding_frames_of_a_stronger_scene_is_protected_as_it() {
        let scene = |label: &str, start: f64, end: f64, level, hdcp| policy::Scene {
            label: label.into(),
            start,
            end,
            level,
            hdcp,
        };
        let p = Policy {
            scenes: vec![
                scene("intro", 0.0, 5.0, Level::Clear, Hdcp::None),
                scene("match", 5.0, 9.0, Level::L1, Hdcp::None),
                scene("ads", 9.0, 9.5, Level::L3, Hdcp::None),
                scene("final", 9.5, 12.0, Level::L1, Hdcp::V2_2),
                scene("credits", 14.0, 16.0, Level::Clear, Hdcp::None),
            ],
        };
        let at = |t| region_of(&p, t);
        // Clear segment from 4 s to 6 s holds match's first second.
        assert_eq!(stronger_scene(&p, at(4.0), 4.0, 6.0), Some(1));
        // Cut exactly at the scene start: nothing to take.
        assert_eq!(stronger_scene(&p, at(4.0), 4.0, 5.0), None);
        // A stronger segment running into a weaker scene keeps its own.
        assert_eq!(stronger_scene(&p, at(8.0), 8.0, 9.4), None);
        // Ties on level go by HDCP; the strongest of several wins.
        assert_eq!(stronger_scene(&p, at(8.0), 8.0, 10.0), Some(3));
        // A gap (encrypted, untagged) is stronger than clear, weaker than L3.
        assert_eq!(stronger_scene(&p, at(12.0), 12.0, 14.5), None);
        assert_eq!(stronger_scene(&p, at(3.0), 3.0, 4.0), None);
        assert!(strength(&p, Region::Gap(4)) > strength(&p, at(0.0)));
        assert!(strength(&p, Region::Gap(4)) < strength(&p, at(9.2)));
    }

    fn clear_options(name: &str, output: PathBuf, extra_files: Vec<(String, Vec<u8>)>) -> Options {
        Options {
            input: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures")
                .join(name),
            more_inputs: Vec::new(),
            title_source: None,
            output,
            content_id: "clip".into(),
            segment_duration: 2.0,
            rotation: Rotation::Segments { count: 2 },
            key_uri: "keys/{kid}.key".into(),
            iv: IvMode::Sequence,
            force: true,
            extra_files,
            clean_abandoned: false,
            policy: None,
            rotation_config: None,
            overlap: false,
            idle: None,
            apple: false,
            format: Container::Ts,
            scheme: cmaf::Scheme::Aes128,
            dash: false,
            key_scope: KeyScope::Period,
            reuse_content_id: false,
            drm: Vec::new(),
            drm_options: Default::default(),
        }
    }

    fn defects_of(dir: &Path) -> Vec<String> {
        verify::structure(dir)
            .unwrap()
            .into_iter()
            .map(|d| format!("{}: {}", d.file, d.message))
            .collect()
    }

    /// Issue 25 item 6: `package` exited 0 on a package its own `verify`
    /// rejected (a 1 fps input got `#EXTINF:5.493` for 3 s). The fixed
    /// segmenter no longer makes one, so the check is fed broken folders.
    #[test]
    fn package_runs_verify_structure_checks_and_publishes_nothing_they_reject() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        let o = clear_options("clip.mp4", good.clone(), Vec::new());
        package(&o, None, &shieldpack_core::progress::NoProgress).unwrap();
        assert_eq!(defects_of(&good), Vec::<String>::new());
        let before = tree(&good);
        let playlist = before
            .keys()
            .find(|p| p.ends_with("index.m3u8"))
            .expect("a media playlist")
            .clone();
        let rendition = playlist.parent().unwrap().to_path_buf();
        let text = String::from_utf8(before[&playlist].clone()).unwrap();

        // The item's symptom: the last EXTINF says 5.493 for a 2 s segment.
        let last = text.rfind("#EXTINF:").unwrap();
        let end = last + text[last..].find(',').unwrap();
        let broken = format!("{}#EXTINF:5.493{}", &text[..last], &text[end..]);
        let copy = tmp.path().join("copy");
        std::fs::create_dir_all(copy.join(&rendition)).unwrap();
        for (rel, bytes) in &before {
            std::fs::write(copy.join(rel), bytes).unwrap();
        }
        std::fs::write(copy.join(&playlist), &broken).unwrap();
        let d = defects_of(&copy);
        let seg = |n: usize| format!("{}/seg_{n:05}.ts", rendition.display());
        assert!(
            d.iter()
                .any(|x| x.contains("EXTINF 5.493 differs from the manifest's 2.000")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.contains("rounds above EXT-X-TARGETDURATION")),
            "{d:?}"
        );
        assert!(d.iter().any(|x| x.contains("EXTINFs add up to")), "{d:?}");

        // Sizes and presence are checked; contents are not read again (the
        // writer hashed them), so a flipped byte is left to `verify`.
        std::fs::write(copy.join(&playlist), &text).unwrap();
        let mut bytes = before[Path::new(&seg(1))].clone();
        bytes[1000] ^= 1;
        std::fs::write(copy.join(seg(1)), &bytes).unwrap();
        assert_eq!(defects_of(&copy), Vec::<String>::new());
        bytes.truncate(bytes.len() - 188);
        std::fs::write(copy.join(seg(1)), &bytes).unwrap();
        std::fs::remove_file(copy.join(seg(2))).unwrap();
        let d = defects_of(&copy);
        assert!(
            d.iter()
                .any(|x| x.starts_with(&format!("{}: size ", seg(1)))),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.starts_with(&format!("{}: missing", seg(2)))),
            "{d:?}"
        );

        // `package` itself: what it staged fails the check (its playlist
        // replaced by the broken one through `extra_files`, written last),
        // so it fails, publishes nothing and leaves the old package alone.
        let name = playlist.to_string_lossy().into_owned();
        let o = clear_options("clip.mp4", good.clone(), vec![(name, broken.into_bytes())]);
        let err = package(&o, None, &shieldpack_core::progress::NoProgress).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("fails verify's checks, so nothing was published"),
            "{msg}"
        );
        assert!(msg.contains("EXTINF 5.493"), "{msg}");
        assert!(err.hint().unwrap().contains("bug in shieldpack"), "{err:?}");
        assert!(tree(&good) == before, "the published package changed");
        let mut left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["copy", "good"], "a staged folder was left behind");
    }
}
