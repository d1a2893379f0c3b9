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

    /// Check a package: playlist rules, files, hashes and, with keys, decryption
    Verify(VerifyArgs),

    /// Summarise a package folder or a media file
    Inspect(InspectArgs),

    /// Embed and extract forensic watermarks that name the session behind a leak
    #[command(subcommand)]
    Watermark(WatermarkCommand),

    /// Generate man pages or shell completions
    #[command(subcommand, hide = true)]
    Generate(GenerateCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a keyring: a random master secret age-wrapped to recipients
    New(KeysNewArgs),

    /// List a keyring's metadata (never a secret unless --reveal)
    Show(KeysShowArgs),

    /// Export the keys a package uses, for a key server or a player
    Export(KeysExportArgs),
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
}

#[derive(Debug, Args)]
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

    /// Where to write the export (a folder for key-files)
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

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

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The media file to package (MP4, MOV, MKV, TS... with H.264/HEVC video)
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// The package folder to create
    #[arg(short, long, value_name = "OUTDIR")]
    pub output: PathBuf,

    /// The keyring that derives the content keys (not needed with --clear)
    #[arg(long, value_name = "KEYRING", required_unless_present = "clear")]
    pub keyring: Option<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// The content id keys are derived for (default: from the input's file name)
    #[arg(long, value_name = "ID")]
    pub content_id: Option<String>,

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

    /// How segment IVs are chosen
    #[arg(long, value_enum, default_value_t = IvMode::Sequence)]
    pub iv: IvMode,

    /// Package without encryption (no keyring needed)
    #[arg(long)]
    pub clear: bool,

    /// Replace OUTDIR if it exists and is not empty
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The package folder to check
    #[arg(value_name = "OUTDIR")]
    pub outdir: PathBuf,

    /// Derive keys from this keyring and check that every segment decrypts
    #[arg(long, value_name = "KEYRING", conflicts_with = "keys")]
    pub keyring: Option<PathBuf>,

    #[command(flatten)]
    pub identities: IdentityArgs,

    /// Read keys from a folder of <kid>.key files and check that every segment decrypts
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
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
}
