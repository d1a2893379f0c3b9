//! The command-line interface, as clap derive types and nothing else.
//!
//! Every flag's doc comment is its `--help` text; the same definitions generate
//! the man pages and shell completions (`shieldpack generate`), so this file is
//! the single source of the user-facing surface described in DESIGN.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Offline packager and key-management toolchain for protected HLS video.
#[derive(Debug, Parser)]
#[command(
    name = "shieldpack",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print nothing but errors and the data asked for
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more about what is being done (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print one JSON document (or JSON Lines for streams) on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// When to colour messages: auto honours NO_COLOR and whether stderr is a terminal
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Never draw progress bars
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, inspect and export keyrings and content keys
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Package a media file into AES-128 encrypted HLS with rotating keys
    Package(PackageArgs),

    /// Package every media file of a folder tree: parallel, resumable, shardable
    Batch(BatchArgs),

    /// Check a package: playlist rules, files, hashes and, with keys, decryption
    Verify(VerifyArgs),

    /// Check scene protection policies, or make one from a video's shots
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Summarise a package folder or a media file
    Inspect(InspectArgs),

    /// Re-encrypt, in place and atomically, the segments whose key is no longer current
    Rekey(RekeyArgs),

    /// Embed and extract forensic watermarks that name the session behind a leak
    #[command(subcommand)]
    Watermark(WatermarkCommand),

    /// Preview a package on this machine: a loopback-only web server with a player page
    Serve(ServeArgs),
    /// Per-session playlists over an A/B package (`package --ab-watermark`), signed URIs
    Session(SessionArgs),

    /// Generate man pages or shell completions
    #[command(subcommand, hide = true)]
    Generate(GenerateCommand),
}

impl Command {
    /// Whether the command reads or writes media, and so needs FFmpeg. The
    /// `shieldpack` front end runs the others itself and hands these to
    /// `shieldpack-media`, the build that links FFmpeg (see `handoff.rs`).
    pub fn needs_ffmpeg(&self) -> bool {
        match self {
            Command::Keys(_)
            | Command::Rekey(_)
            | Command::Generate(_)
            | Command::Serve(_)
            | Command::Session(_) => false,
            Command::Policy(PolicyCommand::Check(a)) => a.media.is_some(),
            Command::Package(_)
            | Command::Batch(_)
            | Command::Verify(_)
            | Command::Policy(PolicyCommand::Detect(_))
            | Command::Inspect(_)
            | Command::Watermark(_) => true,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a keyring: a random master secret age-wrapped to recipients
    New(KeysNewArgs),

    /// List a keyring's metadata (never a secret unless --reveal)
    Show(KeysShowArgs),

    /// Export the keys a package uses, for a key server, a packager or a player
    Export(KeysExportArgs),

    /// Encrypt a file with age (to recipients or a passphrase), like `age -e`
    Wrap(KeysWrapArgs),

    /// Decrypt an age file (armored or binary, detected), like `age -d`
    Unwrap(KeysUnwrapArgs),

    /// Re-wrap a keyring's master to a new set of recipients (same keys, same fingerprint)
    Rewrap(KeysRewrapArgs),

    /// Start a new key generation for a content id's periods N and later
    Rotate(KeysRotateArgs),

    /// Mark a content id's periods or a key generation revoked
    Revoke(KeysRevokeArgs),
}

/// `keys wrap`: the age CLI's encrypt side.
#[derive(Debug, Args)]
#[command(
    after_help = "Byte-compatible with the age CLI: `age -d` opens what this writes, and \
`shieldpack keys unwrap` opens what `age -e` writes.\n\n\
With -p the passphrase is read from the terminal, or from the SHIELDPACK_PASSPHRASE \
environment variable when it is set (for scripts; beware that the environment of a \
process can be visible to other local users)."
)]
pub struct KeysWrapArgs {
    /// The file to encrypt; - or nothing reads standard input
    #[arg(value_name = "INPUT", default_value = "-")]
    pub input: PathBuf,

    /// Encrypt to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable
    #[arg(short, long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Encrypt to the recipients listed in FILE, one per line; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// Encrypt with a passphrase (scrypt) instead of recipients; read from the
    /// terminal, or from SHIELDPACK_PASSPHRASE when set
    #[arg(short, long, conflicts_with_all = ["recipients", "recipients_files"])]
    pub passphrase: bool,

    /// Write PEM-style ASCII armor instead of binary
    #[arg(short, long)]
    pub armor: bool,

    /// Where to write; - or nothing is standard output (binary output to a
    /// terminal is refused unless -o - is given)
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// Replace OUTPUT if it exists
    #[arg(long)]
    pub force: bool,
}

/// `keys unwrap`: the age CLI's decrypt side.
#[derive(Debug, Args)]
#[command(
    after_help = "A passphrase-encrypted file is detected and its passphrase read from \
the terminal, or from the SHIELDPACK_PASSPHRASE environment variable when it is set."
)]
pub struct KeysUnwrapArgs {
    /// The age file to decrypt (armored or binary); - or nothing reads standard input
    #[arg(value_name = "INPUT", default_value = "-")]
    pub input: PathBuf,

    /// An age identity file or unencrypted SSH private key; repeatable.
    /// Default: the file named by SHIELDPACK_IDENTITY
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,

    /// Where to write the plaintext (created 0600); - or nothing is standard
    /// output (a terminal gets it only with an explicit -o -: keys are binary)
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// Replace OUTPUT if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The master secret, salt and fingerprint stay the same, so every \
content key, KID and package stays valid; only who can open the keyring changes. The \
keyring is replaced atomically."
)]
pub struct KeysRewrapArgs {
    /// The keyring to re-wrap
    #[arg(value_name = "KEYRING")]
    pub keyring: PathBuf,

    /// Wrap the master to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable
    #[arg(short, long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Wrap the master to the recipients listed in FILE, one per line; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Rotation needs no identity: it only records, in the keyring, that \
generation G+1 is in force from period N. Packages made before keep working until \
`shieldpack rekey` moves them to the new keys; `verify --keyring` flags them meanwhile."
)]
pub struct KeysRotateArgs {
    /// The keyring to change (replaced atomically)
    #[arg(value_name = "KEYRING")]
    pub keyring: PathBuf,

    /// The content id whose keys to rotate
    #[arg(long, value_name = "ID")]
    pub content_id: String,

    /// The first key period that gets the new generation
    #[arg(long, value_name = "N")]
    pub from_period: u64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A revoked period has no key at all (whatever its generation); a \
revoked generation loses all its keys. Exports leave revoked keys out, and `verify \
--keyring` flags a package that still uses one. Revocation needs no identity."
)]
pub struct KeysRevokeArgs {
    /// The keyring to change (replaced atomically)
    #[arg(value_name = "KEYRING")]
    pub keyring: PathBuf,

    /// The content id whose keys to revoke
    #[arg(long, value_name = "ID")]
    pub content_id: String,

    /// Revoke these key periods (A..B, inclusive; or one period N)
    #[arg(
        long,
        value_name = "A..B",
        required_unless_present = "generation",
        conflicts_with = "generation"
    )]
    pub periods: Option<String>,

    /// Revoke every key of this generation
    #[arg(long, value_name = "G")]
    pub generation: Option<u32>,
}

#[derive(Debug, Args)]
pub struct KeysNewArgs {
    /// Where to write the keyring (refuses to overwrite)
    #[arg(short, long, value_name = "KEYRING")]
    pub output: PathBuf,

    /// Wrap the master to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable
    #[arg(short, long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Wrap the master to the recipients listed in FILE, one per line; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// Register a content id in the keyring (informational; any id can be packaged)
    #[arg(long = "content-id", value_name = "ID")]
    pub content_ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KeysShowArgs {
    /// The keyring to describe
    #[arg(value_name = "KEYRING")]
    pub keyring: PathBuf,

    /// Also print secrets: the master and, with --content-id, the content keys
    #[arg(long)]
    pub reveal: bool,

    /// With --reveal: print the keys of this content id
    #[arg(long, value_name = "ID", requires = "reveal")]
    pub content_id: Option<String>,

    /// With --reveal --content-id: print the keys of these periods (A..B, inclusive)
    #[arg(
        long,
        value_name = "A..B",
        default_value = "0..0",
        requires = "content_id"
    )]
    pub periods: String,

    #[command(flatten)]
    pub identities: IdentityArgs,
}

/// Where the age identities that open a keyring come from.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// An age identity file (or SSH private key) that opens the keyring; repeatable.
    /// Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A folder of 16-byte <kid>.key files, as an HLS key URI serves them
    KeyFiles,
    /// A folder with one FFmpeg -hls_key_info_file per key period plus its key file
    FfmpegKeyinfo,
    /// Shaka Packager's raw-key --keys string (label=:key_id=:key=,...)
    Shaka,
    /// W3C Clear Key JSON (base64url KIDs and keys)
    Clearkey,
    /// DASH-IF CPIX 2.3 XML with one ContentKeyPeriod per key period
    Cpix,
}

#[derive(Debug, Args)]
#[command(after_help = "Formats:\n\
  key-files       OUT/<kid>.key, 16 bytes each (0600); what an HLS key URI serves.\n\
                  With -r/-R: OUT/<kid>.key.age instead, each an age file holding\n\
                  the 16-byte key (`age -d -i ID -o <kid>.key <kid>.key.age`).\n\
  ffmpeg-keyinfo  OUT/period-<N>.keyinfo for each key period, plus OUT/<kid>.key\n\
                  beside them. Each keyinfo holds the key URI and the key file's\n\
                  absolute path, and no IV line, so FFmpeg uses the media sequence\n\
                  number as the IV as shieldpack does (a fixed IV would be reused for\n\
                  every segment). Package a period with FFmpeg:\n\
                    ffmpeg -i IN -c copy -f hls -hls_time 6 \\\n\
                      -hls_key_info_file OUT/period-0.keyinfo out.m3u8\n\
                  FFmpeg reads the key file from disk, so -r/-R is refused here.\n\
  shaka           label=period<N>:key_id=<hex>:key=<hex>,... for `packager --keys`.\n\
  clearkey        {\"keys\":[{\"kty\":\"oct\",\"kid\":..,\"k\":..}],\"type\":\"temporary\"}.\n\
  cpix            DASH-IF CPIX 2.3: a ContentKey per key period (kid as a UUID, key\n\
                  in pskc:PlainValue), a ContentKeyPeriod per period and a usage rule\n\
                  tying each key to its period.\n\
With -r/-R the text formats are written as one age file at OUT.\n\
Revoked periods and generations are never exported; asking only for revoked\n\
periods is an error.")]
pub struct KeysExportArgs {
    /// The keyring the package was made with
    #[arg(value_name = "KEYRING")]
    pub keyring: PathBuf,

    /// The package whose keys to export (reads its manifest.json)
    #[arg(long, value_name = "DIR")]
    pub package: PathBuf,

    /// The export format
    #[arg(long, value_enum)]
    pub format: ExportFormat,

    /// Only these key periods (A..B, inclusive)
    #[arg(long, value_name = "A..B")]
    pub periods: Option<String>,

    /// Where to write the export: a folder for key-files and ffmpeg-keyinfo, a
    /// file (or - for standard output) for shaka, clearkey and cpix
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// Encrypt the export with age to this recipient, so no plaintext key touches
    /// the disk; repeatable
    #[arg(short, long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Encrypt the export with age to the recipients listed in FILE; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// With -r/-R: write ASCII-armored age files instead of binary
    #[arg(short, long)]
    pub armor: bool,

    #[command(flatten)]
    pub identities: IdentityArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IvMode {
    /// Omit the IV attribute: the media sequence number is the IV (RFC 8216 5.2)
    Sequence,
    /// Write an explicit IV per segment, derived from the keyring
    Derived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// MPEG-TS segments (seg_NNNNN.ts)
    Ts,
    /// CMAF: init.mp4 and fragmented MP4 segments (seg_NNNNN.m4s), HLS with EXT-X-MAP
    Cmaf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scheme {
    /// Whole-segment AES-128-CBC, HLS METHOD=AES-128 (ts default; cmaf too)
    #[value(name = "aes-128")]
    Aes128,
    /// HLS SAMPLE-AES for MPEG-TS (H.264 slices, AAC frames; explicit IVs)
    SampleAes,
    /// Common encryption, AES-CBC 1:9 pattern (cmaf default)
    Cbcs,
    /// Common encryption, AES-CTR with per-sample IVs (cmaf)
    Cenc,
}

/// The packaging flags that `package` and `batch` share: they decide the bytes
/// of a package, so `batch` records them to know when a title must be redone.
#[derive(Debug, Clone, Args)]
pub struct PackageFlags {
    /// Target segment duration in seconds; segments are cut on keyframes
    #[arg(long, value_name = "SECONDS", default_value_t = 6.0)]
    pub segment_duration: f64,

    /// Start a new key period every DURATION of media (e.g. 30s, 5m, 1h, 90)
    #[arg(long, value_name = "DURATION", conflicts_with = "rotate_segments")]
    pub rotate_every: Option<String>,

    /// Start a new key period every N segments
    #[arg(long, value_name = "N")]
    pub rotate_segments: Option<u32>,

    /// Key URI written in EXT-X-KEY; placeholders {kid}, {period}, {content_id}
    #[arg(long, value_name = "TEMPLATE", default_value = "keys/{kid}.key")]
    pub key_uri: String,

    /// How segment IVs are chosen (with several INPUTs always derived, per
    /// rendition: the sequence number would repeat under one key in each)
    #[arg(long, value_enum, default_value_t = IvMode::Sequence)]
    pub iv: IvMode,

    /// Key rotation from a JSON config {"stream_id", "key_rotation": {"enabled",
    /// "interval_minutes", "pre_delivery_seconds", "on_compromise", "algorithm",
    /// "key_derivation"}}: the interval becomes --rotate-every; algorithm must be
    /// AES-128-CBC and key_derivation HKDF-SHA256; the other fields are recorded
    /// in manifest.json for the key server
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rotate_every", "rotate_segments"])]
    pub rotation: Option<PathBuf>,

    /// Scene protection policy: each scene starts a new segment and key period;
    /// clear scenes are not encrypted; writes OUTDIR/policy.json
    #[arg(long, value_name = "POLICY", conflicts_with = "clear")]
    pub policy: Option<PathBuf>,

    /// Package without encryption (no keyring needed)
    #[arg(long)]
    pub clear: bool,

    /// DRM systems to signal, comma-separated: clearkey, widevine, playready,
    /// fairplay (PSSH boxes, DASH ContentProtection, HLS EXT-X-KEY KEYFORMAT
    /// lines); they license sample encryption (cmaf cbcs/cenc, ts sample-aes
    /// for fairplay), not whole-segment AES-128
    #[arg(long, value_name = "SYSTEMS")]
    pub drm: Option<String>,

    /// A DRM system's license server, SYSTEM=URL (repeatable); for fairplay
    /// the skd:// key URI template, with {kid} and {content_id}
    #[arg(long, value_name = "SYSTEM=URL")]
    pub license_url: Vec<String>,

    /// Refuse input that breaks Apple's HLS Authoring Specification (HEVC,
    /// which Apple wants in fMP4 not TS; H.264 above High@4.2; interlaced
    /// video), naming the rule; without it, such input gets a warning
    #[arg(long)]
    pub apple: bool,

    /// Segment container: ts, or cmaf (init.mp4 + fragmented MP4 segments,
    /// every video rendition and every audio track a CMAF track of its own)
    #[arg(long, value_enum, default_value_t = Format::Ts)]
    pub format: Format,

    /// Encryption scheme; default aes-128 for ts, cbcs for cmaf
    #[arg(long, value_enum, conflicts_with = "clear")]
    pub scheme: Option<Scheme>,

    /// With --format cmaf: also write a DASH manifest.mpd over the same
    /// segments (one AdaptationSet per content type, a Representation per
    /// rendition; WebVTT subtitles as one subs-<lang>/subs.vtt each)
    #[arg(long)]
    pub dash: bool,

    /// Keys per period: one for the whole title, or one for each track type
    /// (AUDIO, SD up to 768x576 pixels, HD up to 1920x1080, UHD above), as
    /// DRM key servers issue them; track-type needs {kid} in --key-uri
    #[arg(long, value_enum, default_value_t = KeyScopeArg::Period)]
    pub key_scope: KeyScopeArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyScopeArg {
    /// One key per period for the whole title
    Period,
    /// A key per period for each of AUDIO, SD, HD and UHD
    TrackType,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The package folder to serve (master.m3u8 and/or manifest.mpd)
    #[arg(value_name = "OUTDIR")]
    pub outdir: PathBuf,

    /// Key files (<kid>.key, as `keys export --format key-files` writes them) to
    /// answer the package's key URIs with, and ClearKey licenses for DASH
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,

    /// The port to listen on (0: any free port; the URL printed says which)
    #[arg(long, value_name = "N", default_value_t = 8000)]
    pub port: u16,

    /// The address to listen on: loopback only (127.0.0.1, ::1 or localhost);
    /// any other is refused, since the server hands out keys
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The media file to package (MP4, MOV, MKV, TS... with H.264/HEVC video)
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// More pre-encoded renditions of the same title (other sizes or bit rates),
    /// each a variant of master.m3u8 in its own folder (<height>p, or
    /// <height>p-<kbps>k when two share a height). All are cut at the first
    /// INPUT's cuts, so their keyframes must be at the same times (else exit 2,
    /// naming the first cut that differs); key periods and scenes line up across
    /// them, and their IVs are always explicit and derived per rendition. Their
    /// audio tracks become alternate audio renditions (audio-<lang>), text
    /// subtitles WebVTT ones (subs-<lang>). I-frame playlists (iframes.m3u8)
    /// are written for --clear, --scheme sample-aes TS and --format cmaf
    /// (clear, cbcs, cenc; one keyframe per fragment): whole-segment AES-128
    /// allows no byte ranges into segments
    #[arg(value_name = "INPUT")]
    pub more_inputs: Vec<PathBuf>,

    /// The package folder to create
    #[arg(short, long, value_name = "OUTDIR")]
    pub output: PathBuf,

    /// The keyring that derives the content keys (not needed with --clear or --cpix)
    #[arg(long, value_name = "KEYRING", required_unless_present_any = ["clear", "cpix"])]
    pub keyring: Option<PathBuf>,

    /// Take content keys, KIDs and key periods from a DRM provider's CPIX 2.3
    /// document (plain, or age-wrapped to an identity given with -i) instead of
    /// a keyring; its periods must be the package's; it never lands in OUTDIR
    #[arg(long, value_name = "FILE", conflicts_with_all = ["keyring", "clear"])]
    pub cpix: Option<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// The content id keys are derived for (default: the input's file name, with a
    /// hash of it appended when the name is not a valid id, so names never collide);
    /// the keyring records which title each id packaged and refuses another
    #[arg(long, value_name = "ID")]
    pub content_id: Option<String>,

    #[command(flatten)]
    pub flags: PackageFlags,

    /// Transcode INPUT into an aligned H.264 ladder and package every rung as a
    /// rendition: HEIGHTp:BITRATEk,... (e.g. 1080p:6000k,720p:3000k,360p:800k),
    /// `apple` (the HLS authoring specification's ladder, capped at the source's
    /// height) or `auto` (rungs and bit rates from a fast complexity probe of
    /// this title); INPUT is decoded once, keyframes are forced at the cuts
    #[arg(long, value_name = "SPEC")]
    pub ladder: Option<String>,

    /// Replace OUTDIR if it exists and is not empty
    #[arg(long)]
    pub force: bool,

    /// Package even if the keyring already packaged a different title under this
    /// content id (both then share its keys and IVs: only for the same title)
    #[arg(long)]
    pub reuse_content_id: bool,

    /// Session forensics: re-encode the video twice, variants a and b of every
    /// segment (seg_NNNNN.a.ts, .b.ts; .m4s with --format cmaf) each marked with this watermark key, the
    /// variant and the segment index; `shieldpack session` then gives every
    /// session its own mix
    #[arg(long, value_name = "WMKEY")]
    pub ab_watermark: Option<PathBuf>,

    /// libx264 constant rate factor of the A/B re-encode
    #[arg(
        long,
        value_name = "N",
        default_value_t = 18.0,
        requires = "ab_watermark"
    )]
    pub ab_crf: f32,

    /// libx264 preset of the A/B re-encode (ultrafast ... veryslow)
    #[arg(
        long,
        value_name = "P",
        default_value = "veryfast",
        requires = "ab_watermark"
    )]
    pub ab_preset: String,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; errors are reported as FILE:LINE:COLUMN (exit 2)
    Check(PolicyCheckArgs),

    /// Detect shots by decoding a video, and write a policy with one scene per shot
    Detect(PolicyDetectArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The policy file (JSON: {"scenes": [{"label", "start", "end", "drm_level", "hdcp"}]})
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// Also check that no scene runs past the end of this media file
    #[arg(long, value_name = "INPUT")]
    pub media: Option<PathBuf>,
}

/// A scene's DRM security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrmLevel {
    /// Not encrypted (EXT-X-KEY METHOD=NONE)
    #[value(name = "clear")]
    Clear,
    /// Software DRM
    #[value(name = "L3")]
    L3,
    /// Crypto in a trusted environment, software decode
    #[value(name = "L2")]
    L2,
    /// Crypto and decode in a trusted environment
    #[value(name = "L1")]
    L1,
}

#[derive(Debug, Args)]
pub struct PolicyDetectArgs {
    /// The video to analyse
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Where to write the policy (refuses to overwrite without --force)
    #[arg(short, long, value_name = "POLICY")]
    pub output: PathBuf,

    /// Cut score (0..1) a frame must reach to start a new shot; lower finds more cuts
    #[arg(long, value_name = "T", default_value_t = shieldpack_core::policy::DEFAULT_THRESHOLD)]
    pub threshold: f64,

    /// Shots shorter than this many seconds are merged (flashes are dropped)
    #[arg(long, value_name = "SECONDS", default_value_t = shieldpack_core::policy::DEFAULT_MIN_SCENE)]
    pub min_scene: f64,

    /// The drm_level every scene gets
    #[arg(
        long,
        value_enum,
        value_name = "LEVEL",
        default_value = "L3",
        ignore_case = true
    )]
    pub level: DrmLevel,

    /// Replace POLICY if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each title goes to OUTROOT/<content-id>/, the id made from its path \
relative to CATALOG: lower case, every run of characters other than a-z 0-9 _ becomes one \
'-', the extension dropped (shows/S01/Ep 1.mp4 -> shows-s01-ep-1). A finished title is \
skipped on a re-run unless its input, the keyring or the package flags changed."
)]
pub struct BatchArgs {
    /// The folder tree of titles (media files by extension: mp4 m4v mov mkv ts mts m2ts
    /// webm avi mxf mpg mpeg flv 3gp; hidden files and folders are skipped)
    #[arg(value_name = "CATALOG")]
    pub catalog: PathBuf,

    /// The folder that receives one package folder per title, and batch-report.json
    #[arg(short, long, value_name = "OUTROOT")]
    pub output: PathBuf,

    /// The keyring that derives the content keys (not needed with --clear)
    #[arg(long, value_name = "KEYRING", required_unless_present = "clear")]
    pub keyring: Option<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// How many titles to package at once (default: the number of cores)
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Take only shard I of N (0-based): a stable partition by a hash of the content id,
    /// e.g. --shard $JOB_COMPLETION_INDEX/8 in a Kubernetes Indexed Job
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Only titles whose path relative to CATALOG matches GLOB (`*` also matches `/`);
    /// repeatable
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out titles whose path relative to CATALOG matches GLOB; repeatable
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Also package what symlinks lead to outside CATALOG (by default such a file
    /// is a failed title and such a folder is not entered)
    #[arg(long)]
    pub follow_links: bool,

    /// List the titles this shard takes and what would be done, without packaging
    #[arg(long)]
    pub dry_run: bool,

    /// Repackage every title, even those that are finished and unchanged
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub flags: PackageFlags,

    /// Transcode every title into an aligned H.264 ladder and package every
    /// rung as a rendition, as `package --ladder SPEC` does (HEIGHTp:BITRATEk,...,
    /// `apple`, or `auto`, which picks a ladder per title)
    #[arg(long, value_name = "SPEC")]
    pub ladder: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The package folder to check
    #[arg(value_name = "OUTDIR")]
    pub outdir: PathBuf,

    /// Check key generations and revocations against this keyring and, when an
    /// identity opens it (and --keys is not given), that every segment decrypts
    #[arg(long, value_name = "KEYRING")]
    pub keyring: Option<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// Read keys from a folder of <kid>.key files and check that every segment decrypts
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "After `keys rotate` (or `keys revoke --generation`), segments still \
encrypted with an old generation's key are decrypted with it and encrypted with the key \
now in force (no FFmpeg); the playlists and manifest.json get the new KIDs and key URIs \
(from the package's key URI template). With --drm, the DRM systems' pssh boxes, \
DASH ContentProtection elements and HLS key lines are built again for the new KIDs; \
a package made with --cpix is refused (package it again with the provider's new \
document). The new package is built in a sibling folder, \
with untouched segments hard-linked, and swapped in with one rename: an interrupted \
rekey leaves the old package as it was. Export the new keys afterwards."
)]
pub struct RekeyArgs {
    /// The package folder to re-encrypt
    #[arg(value_name = "OUTDIR")]
    pub outdir: PathBuf,

    /// The keyring the package was made with
    #[arg(long, value_name = "KEYRING")]
    pub keyring: PathBuf,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// Worker threads (default: up to 2)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Do not check each segment against its manifest SHA-256 before
    /// re-encrypting it (about a fifth faster; a damaged segment then gets a
    /// fresh hash, and only `verify` with keys can still catch it)
    #[arg(long)]
    pub no_hash_check: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A package folder or a media file
    #[arg(value_name = "OUTDIR|INPUT")]
    pub path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write man pages for every command into DIR
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print a completion script for SHELL on stdout
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum WatermarkCommand {
    /// Create a watermark key: a random secret written with mode 0600
    Keygen(WmKeygenArgs),

    /// Mark a video with a payload: decode, add a keyed mark to the luma, re-encode H.264
    Embed(WmEmbedArgs),

    /// Read a mark blind from a clip: the payload and its false-alarm probability
    Extract(WmExtractArgs),

    /// Name the sessions a leaked recording of an A/B package came from
    Trace(WmTraceArgs),
}

#[derive(Debug, Args)]
pub struct WmTraceArgs {
    /// The leaked recording (any stretch of the title; re-encoded, scaled or cropped)
    #[arg(value_name = "LEAK")]
    pub leak: PathBuf,

    /// The A/B package the sessions were served from
    #[arg(long, value_name = "PKG")]
    pub package: PathBuf,

    /// The watermark key given to `package --ab-watermark`
    #[arg(long, value_name = "WMKEY")]
    pub wm_key: PathBuf,

    /// The session ids to score, one a line
    #[arg(long, value_name = "FILE", required_unless_present = "session_count")]
    pub sessions: Option<PathBuf>,

    /// Score N generated ids (session-0000000 ...) as well, for benchmarks
    #[arg(long, value_name = "N")]
    pub session_count: Option<u64>,

    /// Accuse a session when log10 of the chance that any innocent scores as
    /// high is at most this
    #[arg(long, value_name = "LOG10P", default_value_t = -3.0, allow_hyphen_values = true)]
    pub threshold_log10: f64,

    /// Seconds of the leak read per window (about one segment)
    #[arg(long, value_name = "SECONDS")]
    pub window: Option<f64>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub command: Option<SessionCommand>,

    #[command(flatten)]
    pub make: SessionMakeArgs,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Print the variant (a or b) a session gets for one segment, for an edge
    /// function that picks variants itself
    Variant(SessionVariantArgs),

    /// Check a signed URL as a CDN or key server would (exit 1 when refused)
    VerifyUrl(SessionVerifyArgs),
}

#[derive(Debug, Args)]
pub struct SessionMakeArgs {
    /// The A/B package (made by `package --ab-watermark`)
    #[arg(value_name = "PKG", required = true)]
    pub package: Option<PathBuf>,

    /// Session ids to write playlists for
    #[arg(long = "session", value_name = "ID", num_args = 1.., required_unless_present = "sessions")]
    pub session: Vec<String>,

    /// A file of session ids, one a line
    #[arg(long, value_name = "FILE")]
    pub sessions: Option<PathBuf>,

    /// The folder to write one playlist per session into (ID.m3u8)
    #[arg(short, long, value_name = "DIR", required = true)]
    pub output: Option<PathBuf>,

    /// The watermark key given to `package --ab-watermark` (the code is derived
    /// from it). Default: the code sealed in the package (session-code.age),
    /// opened with -i
    #[arg(long, value_name = "WMKEY")]
    pub wm_key: Option<PathBuf>,

    /// The identity that opens the package's keyring, to open the code sealed
    /// in the package; repeatable. Default: the file named by SHIELDPACK_IDENTITY
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,

    /// Where the package is served: URIs are written as BASE + the path in the
    /// package (default: the package's path relative to DIR)
    #[arg(long, value_name = "BASE")]
    pub base_url: Option<String>,

    /// Sign every segment and key URI with this HMAC key (32 to 128 hex digits);
    /// needs --base-url naming the served path (/path/ or https://host/path/)
    #[arg(long, value_name = "FILE", requires = "base_url")]
    pub sign_key: Option<PathBuf>,

    /// How long signed URIs stay valid (e.g. 2m, 90s, 1h)
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub expires: String,

    /// The token format of signed URIs
    #[arg(long, value_enum, value_name = "KIND", default_value = "edgeauth")]
    pub token: TokenArg,

    /// Replace playlists that exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenArg {
    /// Akamai EdgeAuth (`__token__=st=..~exp=..~id=..~hmac=..`, url mode)
    Edgeauth,
    /// JWT HS256 (`token=`), claims exp, iat, path, sid
    Jwt,
}

#[derive(Debug, Args)]
pub struct SessionVariantArgs {
    /// The A/B package
    #[arg(value_name = "PKG")]
    pub package: PathBuf,

    /// The session id
    #[arg(long, value_name = "ID")]
    pub session: String,

    /// The segment index (0 is the first segment of the playlist)
    #[arg(long, value_name = "N")]
    pub segment: u64,

    /// The watermark key given to `package --ab-watermark`. Default: the code
    /// sealed in the package, opened with -i
    #[arg(long, value_name = "WMKEY")]
    pub wm_key: Option<PathBuf>,

    /// The identity that opens the package's keyring; repeatable. Default: the
    /// file named by SHIELDPACK_IDENTITY
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SessionVerifyArgs {
    /// The signed URL or path with its query
    #[arg(value_name = "URL")]
    pub url: String,

    /// The HMAC key the URL was signed with
    #[arg(long, value_name = "FILE")]
    pub sign_key: PathBuf,

    /// Check at this Unix time instead of now (to replay a log)
    #[arg(long, value_name = "UNIX")]
    pub at: Option<u64>,
}

#[derive(Debug, Args)]
pub struct WmKeygenArgs {
    /// Where to write the key (refuses to overwrite)
    #[arg(short, long, value_name = "WMKEY")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct WmEmbedArgs {
    /// The video to mark
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// The marked video to write (.mp4, .mkv, .mov, .ts)
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,

    /// The watermark key (from `shieldpack watermark keygen`)
    #[arg(long, value_name = "WMKEY")]
    pub wm_key: PathBuf,

    /// The payload to embed: 1 to 16 hex digits (up to 64 bits)
    #[arg(long, value_name = "HEX")]
    pub payload: String,

    /// Luma PSNR of the mark alone, in dB (40 to 56): higher is fainter and
    /// reads less well after heavy attacks (CRF 40, reframing plus CRF 30)
    #[arg(long, value_name = "DB", default_value_t = 46.0)]
    pub mark_psnr: f64,

    /// libx264 constant rate factor of the re-encode (lower is better quality)
    #[arg(long, value_name = "N", default_value_t = 18.0)]
    pub crf: f32,

    /// libx264 preset of the re-encode (ultrafast ... veryslow)
    #[arg(long, value_name = "P", default_value = "medium")]
    pub preset: String,

    /// Replace OUTPUT if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct WmExtractArgs {
    /// The clip to examine (any length; a few seconds suffice)
    #[arg(value_name = "CLIP")]
    pub clip: PathBuf,

    /// The watermark key the mark was embedded with
    #[arg(long, value_name = "WMKEY")]
    pub wm_key: PathBuf,

    /// Report a mark only when log10 of its false-alarm probability is at most this
    #[arg(long, value_name = "LOG10P", default_value_t = -9.0, allow_hyphen_values = true)]
    pub threshold_log10: f64,

    /// Read at most this many seconds of the clip
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub max_seconds: f64,

    /// Also search the shears a perspective warp of a few percent gives (a
    /// camcorder's leak): about twice the time on a clip whose mark is not
    /// found at once, and every shear tried counts in log10 p
    #[arg(long)]
    pub perspective: bool,
}
