//! Scene protection policies: which stretch of a title needs which DRM level
//! and output protection (HDCP).
//!
//! A policy file is JSON, `{"scenes":[{"label","start","end","drm_level","hdcp"}]}`.
//! `check` turns its text into a `Policy` or into diagnostics that point at the
//! offending value by line and column (syntax errors from serde_json, rule
//! errors from the positions `json` records). `shieldpack_media::detect` makes
//! policies from the shots of a video; `package --policy` honours them; `rotation` reads the seed
//! key-rotation config with the same positioned parser.

pub mod json;
pub mod rotation;

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use json::{Kind, Node, Pos};

/// `policy detect`'s defaults: the scene-change score (0 to 1) that makes a
/// cut, and the shortest scene in seconds.
pub const DEFAULT_THRESHOLD: f64 = 0.25;
pub const DEFAULT_MIN_SCENE: f64 = 1.0;

/// Policy files are small; refuse to read an absurd one into memory.
const MAX_POLICY_BYTES: u64 = 16 << 20;

/// Slack when comparing a scene's end with the media's duration: container
/// durations and the last frame's end differ by up to a frame or so.
const END_SLACK: f64 = 0.1;

/// The DRM security level a scene needs (Widevine's names; `clear` is unencrypted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "clear")]
    Clear,
    L3,
    L2,
    L1,
}

impl Level {
    pub const NAMES: &'static str = "clear, L3, L2, L1";

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Clear => "clear",
            Level::L3 => "L3",
            Level::L2 => "L2",
            Level::L1 => "L1",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "clear" => Level::Clear,
            "L3" => Level::L3,
            "L2" => Level::L2,
            "L1" => Level::L1,
            _ => return None,
        })
    }

    pub fn encrypted(self) -> bool {
        self != Level::Clear
    }
}

/// Required HDCP version: `false` for none, else "1.4", "2.2" or "2.3".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hdcp {
    None,
    V1_4,
    V2_2,
    V2_3,
}

impl Hdcp {
    pub fn parse(v: &Value) -> Option<Hdcp> {
        Some(match v {
            Value::Bool(false) => Hdcp::None,
            Value::String(s) => match s.as_str() {
                "1.4" => Hdcp::V1_4,
                "2.2" => Hdcp::V2_2,
                "2.3" => Hdcp::V2_3,
                _ => return None,
            },
            _ => return None,
        })
    }

    pub fn to_value(self) -> Value {
        match self {
            Hdcp::None => Value::Bool(false),
            Hdcp::V1_4 => "1.4".into(),
            Hdcp::V2_2 => "2.2".into(),
            Hdcp::V2_3 => "2.3".into(),
        }
    }
}

impl Serialize for Hdcp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hdcp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Hdcp::parse(&v).ok_or_else(|| {
            serde::de::Error::custom("hdcp must be false, \"1.4\", \"2.2\" or \"2.3\"")
        })
    }
}

/// One scene, times in seconds from the first video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub label: String,
    pub start: f64,
    pub end: f64,
    pub level: Level,
    pub hdcp: Hdcp,
}

/// A valid policy: scenes in order, none overlapping, none empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    pub scenes: Vec<Scene>,
}

/// One finding of `check`, at a place in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Present when there are no errors.
    pub policy: Option<Policy>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Checked {
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

struct Findings {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Findings {
    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(Diagnostic {
            line: pos.line,
            column: pos.column,
            message: message.into(),
            hint: hint.into(),
        });
    }
    fn warn(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.warnings.push(Diagnostic {
            line: pos.line,
            column: pos.column,
            message: message.into(),
            hint: hint.into(),
        });
    }
}

const TIME_HINT: &str = "write a time as \"HH:MM:SS\" or \"HH:MM:SS.mmm\" (e.g. \"00:01:30.500\"), or as seconds, a number or a string (e.g. 90.5 or \"90.5\")";

/// The latest time a policy may name, in seconds (100 hours). No title runs
/// that long; a larger value is a typo or an attack, and past about 2^53 ms
/// it could not even be printed back as a clock time.
pub const MAX_TIME: f64 = 100.0 * 3600.0;
const SCENE_KEYS: [&str; 5] = ["label", "start", "end", "drm_level", "hdcp"];

/// Parses a policy time: "HH:MM:SS[.mmm]" or a number of seconds.
pub fn parse_time(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|s| s.is_finite() && *s >= 0.0),
        Value::String(s) => parse_hms(s).or_else(|| parse_seconds_text(s)),
        _ => None,
    }
}

/// Seconds written as a string, `"10"` or `"10.5"`: digits, then at most one
/// fraction. No sign, exponent, spaces or units, so nothing is read two ways.
fn parse_seconds_text(s: &str) -> Option<f64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    s.parse().ok().filter(|v: &f64| v.is_finite())
}

fn parse_hms(s: &str) -> Option<f64> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if parts[1].len() != 2 || parts[2].len() != 2 {
        return None;
    }
    let h: f64 = parts[0].parse().ok()?;
    let m: f64 = parts[1].parse().ok()?;
    let sec: f64 = parts[2].parse().ok()?;
    if m >= 60.0 || sec >= 60.0 {
        return None;
    }
    let f = match frac {
        None => 0.0,
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("0.{f}").parse().ok()?
        }
        Some(_) => return None,
    };
    Some(h * 3600.0 + m * 60.0 + sec + f)
}

/// Reads and checks a policy file. `media_duration` (seconds) adds the check
/// that no scene runs past the media's end. I/O problems are errors; anything
/// wrong with the content is a diagnostic.
pub fn check_file(path: &Path, media_duration: Option<f64>) -> Result<Checked> {
    // A regular file within the cap: a FIFO or device is refused, not read.
    let bytes = crate::fsutil::read_capped(path, MAX_POLICY_BYTES).map_err(|e| match e {
        crate::fsutil::CappedReadError::Io(e) => Error::missing_or_io(
            path,
            e,
            "no such policy file",
            "check the path, or make one with `shieldpack policy detect INPUT -o POLICY`",
        ),
        e => Error::invalid_file(
            path,
            e.to_string(),
            "a policy lists scenes; pass the policy JSON, not a media file",
        ),
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => {
            let checked = check(&text, media_duration);
            // `check` stops early when interrupted; what it found is then partial.
            crate::interrupt::check()?;
            Ok(checked)
        }
        Err(_) => Ok(Checked {
            policy: None,
            errors: vec![Diagnostic {
                line: 1,
                column: 1,
                message: "not UTF-8 text".into(),
                hint: "a policy is a JSON text file; pass the policy, not a media file".into(),
            }],
            warnings: vec![],
        }),
    }
}

/// Checks a policy's text.
pub fn check(text: &str, media_duration: Option<f64>) -> Checked {
    let mut f = Findings {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let root = match json::parse(text) {
        Ok(n) => n,
        Err(e) => {
            f.error(
                e.pos,
                format!("invalid JSON: {}", e.message),
                "the file must be one JSON object {\"scenes\": [...]}; check quotes, commas and brackets at that position",
            );
            return Checked {
                policy: None,
                errors: f.errors,
                warnings: f.warnings,
            };
        }
    };
    let scenes = check_root(&root, &mut f);
    let mut parsed: Vec<(Pos, Option<Scene>, Pos, Pos)> = Vec::new();
    for (i, node) in scenes.iter().enumerate() {
        if crate::interrupt::check().is_err() {
            break; // `check_file` reports the interrupt
        }
        parsed.push(check_scene(i, node, &mut f));
    }
    // Order, overlap, gaps and duplicate labels, between neighbours that parsed.
    let mut prev: Option<&Scene> = None;
    // By label, to find duplicates in one pass (a list made 100,000 scenes quadratic).
    let mut seen_labels: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, (pos, scene, start_pos, _end_pos)) in parsed.iter().enumerate() {
        if crate::interrupt::check().is_err() {
            break;
        }
        let Some(s) = scene else {
            prev = None;
            continue;
        };
        if let Some(&j) = seen_labels
            .get(s.label.as_str())
            .filter(|_| !s.label.is_empty())
        {
            f.error(
                *pos,
                format!("scene {} has the same label '{}' as scene {}", i + 1, s.label, j + 1),
                "give every scene its own label; license servers and policy.json name scenes by label",
            );
        }
        seen_labels.entry(&s.label).or_insert(i);
        match prev {
            None if i == 0 && s.start > 0.0 => f.warn(
                *start_pos,
                format!(
                    "gap: nothing covers 00:00:00.000 to {} before scene '{}'",
                    crate::timefmt::format_hms(s.start),
                    s.label
                ),
                "content outside every scene is packaged encrypted with no scene tag; start the first scene at 00:00:00 to cover it",
            ),
            None => {}
            Some(p) => {
                if s.start + 1e-9 < p.start {
                    f.error(
                        *start_pos,
                        format!(
                            "scenes out of order: scene '{}' starts at {}, before scene '{}' at {}",
                            s.label,
                            crate::timefmt::format_hms(s.start),
                            p.label,
                            crate::timefmt::format_hms(p.start)
                        ),
                        "list scenes in the order they play, each starting at or after the previous one's end",
                    );
                } else if s.start + 1e-9 < p.end {
                    f.error(
                        *start_pos,
                        format!(
                            "scene '{}' starts at {}, before scene '{}' ends at {}: scenes overlap",
                            s.label,
                            crate::timefmt::format_hms(s.start),
                            p.label,
                            crate::timefmt::format_hms(p.end)
                        ),
                        "a moment belongs to one scene; start this scene at or after the previous one's end",
                    );
                } else if s.start > p.end + 1e-9 {
                    f.warn(
                        *start_pos,
                        format!(
                            "gap: nothing covers {} to {} between scenes '{}' and '{}'",
                            crate::timefmt::format_hms(p.end),
                            crate::timefmt::format_hms(s.start),
                            p.label,
                            s.label
                        ),
                        "content outside every scene is packaged encrypted with no scene tag; end the previous scene where this one starts to cover it",
                    );
                }
            }
        }
        prev = Some(s);
    }
    if let Some(d) = media_duration {
        for (_, scene, start_pos, end_pos) in &parsed {
            let Some(s) = scene else { continue };
            if s.start >= d - 1e-9 {
                f.error(
                    *start_pos,
                    format!(
                        "scene '{}' starts at {}, at or past the media's end ({})",
                        s.label,
                        crate::timefmt::format_hms(s.start),
                        crate::timefmt::format_hms(d)
                    ),
                    "remove the scene or fix its times; `shieldpack inspect INPUT` shows the media's duration",
                );
            } else if s.end > d + END_SLACK {
                f.error(
                    *end_pos,
                    format!(
                        "scene '{}' ends at {}, past the media's end ({})",
                        s.label,
                        crate::timefmt::format_hms(s.end),
                        crate::timefmt::format_hms(d)
                    ),
                    format!(
                        "end the scene at or before {}",
                        crate::timefmt::format_hms(d)
                    ),
                );
            }
        }
        if let Some((_, Some(last), _, end_pos)) = parsed.last() {
            if last.end + END_SLACK < d && f.errors.is_empty() {
                f.warn(
                    *end_pos,
                    format!(
                        "gap: nothing covers {} to the media's end ({})",
                        crate::timefmt::format_hms(last.end),
                        crate::timefmt::format_hms(d)
                    ),
                    "content outside every scene is packaged encrypted with no scene tag; end the last scene at the media's end to cover it",
                );
            }
        }
    }
    f.errors.sort_by_key(|d| (d.line, d.column));
    f.warnings.sort_by_key(|d| (d.line, d.column));
    let policy = f.errors.is_empty().then(|| Policy {
        scenes: parsed.into_iter().filter_map(|p| p.1).collect(),
    });
    Checked {
        policy,
        errors: f.errors,
        warnings: f.warnings,
    }
}

/// The top level: an object with exactly a `scenes` array.
fn check_root<'a>(root: &'a Node, f: &mut Findings) -> &'a [Node] {
    let Kind::Object(members) = &root.kind else {
        f.error(
            root.pos,
            format!("the policy is {}, not an object", root.type_name()),
            "write {\"scenes\": [{\"label\": ..., \"start\": ..., \"end\": ..., \"drm_level\": ..., \"hdcp\": ...}]}",
        );
        return &[];
    };
    let mut scenes: Option<&[Node]> = None;
    for m in members {
        if m.key == "scenes" {
            if scenes.is_some() {
                f.error(
                    m.key_pos,
                    "\"scenes\" is given twice",
                    "keep one \"scenes\" array",
                );
                continue;
            }
            match &m.value.kind {
                Kind::Array(items) => scenes = Some(items),
                _ => {
                    f.error(
                        m.value.pos,
                        format!("\"scenes\" is {}, not an array", m.value.type_name()),
                        "write \"scenes\": [ {...}, {...} ]",
                    );
                    scenes = Some(&[]);
                }
            }
        } else {
            f.error(
                m.key_pos,
                format!("unknown key \"{}\"", m.key),
                "the top level holds only \"scenes\"; remove the key or check its spelling",
            );
        }
    }
    match scenes {
        None => {
            f.error(
                root.pos,
                "no \"scenes\" array",
                "write {\"scenes\": [ ... ]} with one object per scene",
            );
            &[]
        }
        Some([]) => {
            f.error(
                root.pos,
                "the policy has no scenes",
                "list at least one scene; `shieldpack policy detect` makes one per shot",
            );
            &[]
        }
        Some(s) => s,
    }
}

/// One scene object: (its position, the scene if it parsed, start and end positions).
fn check_scene(i: usize, node: &Node, f: &mut Findings) -> (Pos, Option<Scene>, Pos, Pos) {
    let n = i + 1;
    let Kind::Object(members) = &node.kind else {
        f.error(
            node.pos,
            format!("scene {n} is {}, not an object", node.type_name()),
            "write each scene as {\"label\": ..., \"start\": ..., \"end\": ..., \"drm_level\": ..., \"hdcp\": ...}",
        );
        return (node.pos, None, node.pos, node.pos);
    };
    let get = |k: &str| members.iter().find(|m| m.key == k);
    for (j, m) in members.iter().enumerate() {
        if !SCENE_KEYS.contains(&m.key.as_str()) {
            f.error(
                m.key_pos,
                format!("unknown key \"{}\" in scene {n}", m.key),
                format!(
                    "a scene has the keys {}; remove the key or check its spelling",
                    SCENE_KEYS.join(", ")
                ),
            );
        } else if members[..j].iter().any(|o| o.key == m.key) {
            f.error(
                m.key_pos,
                format!("\"{}\" is given twice in scene {n}", m.key),
                "keep one",
            );
        }
    }
    let label = match get("label") {
        None => format!("scene-{n:03}"),
        Some(m) => {
            let control = match m.value.scalar() {
                Some(Value::String(s)) => s.chars().enumerate().find(|(_, c)| c.is_control()),
                _ => None,
            };
            match (m.value.scalar(), control) {
                (_, Some((at, c))) => {
                    let what = match c {
                        '\n' | '\r' => "a line break".to_string(),
                        '\t' => "a tab".to_string(),
                        c => format!("the control character U+{:04X}", c as u32),
                    };
                    f.error(
                        m.value.pos,
                        format!(
                            "the label of scene {n} contains {what} (character {})",
                            at + 1
                        ),
                        "a label is one line of printable text (it goes into policy.json and log lines); remove the line break or control character, e.g. \"label\": \"pre-game\"",
                    );
                    String::new()
                }
                (Some(Value::String(s)), None) if !s.trim().is_empty() => s.clone(),
                _ => {
                    f.error(
                        m.value.pos,
                        format!("the label of scene {n} must be a non-empty string"),
                        "write e.g. \"label\": \"pre-game\"",
                    );
                    String::new()
                }
            }
        }
    };
    let mut time = |key: &str| -> (Option<f64>, Pos) {
        match get(key) {
            None => {
                f.error(
                    node.pos,
                    format!("scene {n} has no \"{key}\""),
                    format!("add \"{key}\": \"HH:MM:SS\" to the scene"),
                );
                (None, node.pos)
            }
            Some(m) => match parse_time(m.value.scalar().unwrap_or(&Value::Null)) {
                Some(t) if t > MAX_TIME => {
                    let shown = m.value.shown();
                    f.error(
                        m.value.pos,
                        format!(
                            "the {key} of scene {n}, {shown}, is past {}, the latest time a policy may name",
                            crate::timefmt::format_hms(MAX_TIME)
                        ),
                        "policy times are within the title (100 hours at most); check for a typo, or for milliseconds written as seconds",
                    );
                    (None, m.value.pos)
                }
                Some(t) => (Some(t), m.value.pos),
                None => {
                    let shown = m.value.shown();
                    f.error(
                        m.value.pos,
                        format!("the {key} of scene {n}, {shown}, is not a time"),
                        TIME_HINT,
                    );
                    (None, m.value.pos)
                }
            },
        }
    };
    let (start, start_pos) = time("start");
    let (end, end_pos) = time("end");
    if let (Some(s), Some(e)) = (start, end) {
        if (e - s).abs() < 1e-9 {
            f.error(
                end_pos,
                format!(
                    "scene {n} is empty: it starts and ends at {}",
                    crate::timefmt::format_hms(s)
                ),
                "give the scene an end after its start, or remove it",
            );
        } else if e < s {
            f.error(
                end_pos,
                format!(
                    "scene {n} ends at {}, before it starts at {}",
                    crate::timefmt::format_hms(e),
                    crate::timefmt::format_hms(s)
                ),
                "swap start and end, or fix the times",
            );
        }
    }
    let level = match get("drm_level") {
        None => {
            f.error(
                node.pos,
                format!("scene {n} has no \"drm_level\""),
                format!("add \"drm_level\": one of {}", Level::NAMES),
            );
            None
        }
        Some(m) => match m.value.scalar() {
            Some(Value::String(s)) => match Level::parse(s) {
                Some(l) => Some(l),
                None => {
                    let hint = match Level::parse(&s.to_ascii_uppercase())
                        .or(Level::parse(&s.to_ascii_lowercase()))
                    {
                        Some(l) => format!("levels are case-sensitive: write \"{}\"", l.as_str()),
                        None => format!("use one of {}", Level::NAMES),
                    };
                    f.error(
                        m.value.pos,
                        format!("unknown drm_level \"{s}\" in scene {n}"),
                        hint,
                    );
                    None
                }
            },
            _ => {
                f.error(
                    m.value.pos,
                    format!(
                        "the drm_level of scene {n} is {}, not a string",
                        m.value.type_name()
                    ),
                    format!("use one of {}", Level::NAMES),
                );
                None
            }
        },
    };
    let hdcp = match get("hdcp") {
        None => Some(Hdcp::None),
        Some(m) => match m.value.scalar().and_then(Hdcp::parse) {
            Some(h) => Some(h),
            None => {
                let shown = m.value.shown();
                f.error(
                    m.value.pos,
                    format!("bad hdcp value {shown} in scene {n}"),
                    "write false (no HDCP needed) or the version as a string: \"1.4\", \"2.2\" or \"2.3\"",
                );
                None
            }
        },
    };
    if let (Some(Level::Clear), Some(h), Some(m)) = (level, hdcp, get("hdcp")) {
        if h != Hdcp::None {
            f.warn(
                m.value.pos,
                format!("scene {n} is clear, so its hdcp requirement cannot be enforced"),
                "clear segments need no license; set hdcp to false or raise drm_level",
            );
        }
    }
    // A scene whose times parse takes part in the order, overlap and media-end
    // checks even when another of its fields is wrong, so one run reports all;
    // the placeholders never escape, as a policy with errors is not returned.
    let scene = match (start, end) {
        (Some(start), Some(end)) if end > start => Some(Scene {
            label,
            start,
            end,
            level: level.unwrap_or(Level::L3),
            hdcp: hdcp.unwrap_or(Hdcp::None),
        }),
        _ => None,
    };
    (node.pos, scene, start_pos, end_pos)
}

/// Loads a policy for `package`: any error fails, with its position.
pub fn load(path: &Path, media_duration: Option<f64>) -> Result<(Policy, Vec<Diagnostic>)> {
    let c = check_file(path, media_duration)?;
    match c.policy {
        Some(p) => Ok((p, c.warnings)),
        None => {
            let first = &c.errors[0];
            let more = match c.errors.len() {
                1 => String::new(),
                n => format!(
                    " (and {} more error(s): run `shieldpack policy check {}`)",
                    n - 1,
                    path.display()
                ),
            };
            Err(Error::at(
                path,
                first.line,
                first.column,
                format!("{}{more}", first.message),
                first.hint.clone(),
            ))
        }
    }
}

/// The policy file format `detect` writes, one scene per shot.
#[derive(Debug, Serialize)]
struct FileScene<'a> {
    label: &'a str,
    start: String,
    end: String,
    drm_level: Level,
    hdcp: Hdcp,
}

impl Policy {
    /// The policy as a file, times as HH:MM:SS.mmm.
    pub fn to_json(&self) -> String {
        let scenes: Vec<FileScene> = self
            .scenes
            .iter()
            .map(|s| FileScene {
                label: &s.label,
                start: crate::timefmt::format_hms(s.start),
                end: crate::timefmt::format_hms(s.end),
                drm_level: s.level,
                hdcp: s.hdcp,
            })
            .collect();
        let mut out = String::from("{\n  \"scenes\": [\n");
        for (i, s) in scenes.iter().enumerate() {
            out.push_str("    ");
            out.push_str(&serde_json::to_string(s).expect("serialisable"));
            out.push_str(if i + 1 < scenes.len() { ",\n" } else { "\n" });
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// The index of the scene that holds time `t`, if any.
    pub fn scene_at(&self, t: f64) -> Option<usize> {
        const EPS: f64 = 1e-6;
        self.scenes
            .iter()
            .position(|s| s.start <= t + EPS && t + EPS < s.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<(usize, usize, String)> {
        check(text, Some(12.0))
            .errors
            .into_iter()
            .map(|d| (d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(&Value::from("01:00:00")), Some(3600.0));
        assert_eq!(parse_time(&Value::from("00:00:03.5")), Some(3.5));
        assert_eq!(parse_time(&Value::from(4.25)), Some(4.25));
        for bad in [
            "1:00",
            "00:61:00",
            "00:00:0x",
            "",
            "00:00:00.",
            "3s",
            "-3",
            "1e3",
            " 3",
            "3.",
            ".5",
            "1.2.3",
            "+3",
            "NaN",
            "inf",
        ] {
            assert_eq!(parse_time(&Value::from(bad)), None, "{bad}");
        }
        assert_eq!(parse_time(&Value::from(-1)), None);
    }

    #[test]
    fn policy_times_may_be_strings_of_seconds() {
        assert_eq!(parse_time(&Value::from("10")), Some(10.0));
        assert_eq!(parse_time(&Value::from("10.5")), Some(10.5));
        let text = r#"{"scenes":[{"label":"a","start":"0","end":"10.5","drm_level":"L3"}]}"#;
        let c = check(text, Some(12.0));
        assert!(c.valid(), "{:?}", c.errors);
        let s = &c.policy.unwrap().scenes[0];
        assert_eq!((s.start, s.end), (0.0, 10.5));
    }

    #[test]
    fn a_label_with_a_newline_is_told_so() {
        let text = "{\"scenes\":[\n {\"label\":\"pre\\ngame\",\"start\":0,\"end\":5,\"drm_level\":\"L3\"}\n]}";
        assert_eq!(
            errs(text),
            vec![(
                2,
                11,
                "the label of scene 1 contains a line break (character 4)".into()
            )]
        );
        let text = r#"{"scenes":[{"label":"a\u0007","start":0,"end":5,"drm_level":"L3"}]}"#;
        assert_eq!(
            errs(text)[0].2,
            "the label of scene 1 contains the control character U+0007 (character 2)"
        );
        // An empty label keeps its own message.
        let text = r#"{"scenes":[{"label":" ","start":0,"end":5,"drm_level":"L3"}]}"#;
        assert!(errs(text)[0].2.contains("must be a non-empty string"));
    }

    #[test]
    fn huge_policy_times_are_refused_where_they_are_written() {
        for (start, end) in [
            ("1e300", "2e300"),
            ("0", "360000.001"),
            ("0", "\"999999:00:00\""),
            ("0", "\"18446744073709551616\""),
        ] {
            let text = format!(
                "{{\"scenes\":[\n {{\"label\":\"a\",\"start\":{start},\"end\":{end},\"drm_level\":\"L3\"}}\n]}}"
            );
            let e = errs(&text);
            assert!(!e.is_empty(), "{text}");
            for (line, _, msg) in &e {
                assert_eq!(*line, 2, "{msg}");
                assert!(
                    msg.contains("is past 100:00:00.000, the latest time a policy may name"),
                    "{msg}"
                );
            }
        }
        // 100 hours exactly is still a time.
        let text = r#"{"scenes":[{"label":"a","start":0,"end":"100:00:00","drm_level":"L3"}]}"#;
        assert!(check(text, None).valid());
    }

    #[test]
    fn a_good_policy_round_trips() {
        let text = r#"{"scenes":[
 {"label":"a","start":"00:00:00","end":"00:00:04","drm_level":"clear","hdcp":false},
 {"label":"b","start":4,"end":"00:00:12","drm_level":"L1","hdcp":"2.2"}]}"#;
        let c = check(text, Some(12.0));
        assert!(c.valid(), "{:?}", c.errors);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let p = c.policy.unwrap();
        let again = check(&p.to_json(), Some(12.0)).policy.unwrap();
        assert_eq!(p, again);
        assert_eq!(p.scene_at(3.99), Some(0));
        assert_eq!(p.scene_at(4.0), Some(1));
        assert_eq!(p.scene_at(12.0), None);
    }

    #[test]
    fn rule_errors_point_at_the_value() {
        let text =
            "{\"scenes\":[\n {\"label\":\"a\",\"start\":0,\"end\":5,\"drm_level\":\"L4\"}\n]}";
        assert_eq!(
            errs(text),
            vec![(2, 45, "unknown drm_level \"L4\" in scene 1".into())]
        );
        let text = "{\"scenes\":[\n {\"label\":\"a\",\"start\":0,\"end\":5,\"drm_level\":\"L3\"},\n {\"label\":\"b\",\"start\":4,\"end\":6,\"drm_level\":\"L3\"}\n]}";
        let e = errs(text);
        assert_eq!((e[0].0, e[0].1), (3, 23), "{e:?}");
        assert!(e[0].2.contains("overlap"));
    }
}
