//! HLS playlists (RFC 8216) as typed values with a writer and a strict parser.
//!
//! The writer emits exactly what `package` publishes; the parser reads any
//! conforming playlist back (for `verify`, `inspect` and `rekey`) and reports
//! errors with their line numbers. `rules` holds the checks `verify` applies;
//! `bandwidth` the BANDWIDTH both `package` and `verify` compute.

pub mod attr;
pub mod bandwidth;
mod master;
mod media;
pub mod rules;

pub use master::{MasterPlaylist, Media, Variant};
pub use media::{Key, KeyMethod, MediaPlaylist, MediaSegment, PlaylistType};

/// A playlist syntax error at a 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Lines of a playlist with their 1-based numbers, blank lines skipped.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// The lines after the `#EXTM3U` that must open every playlist (RFC 8216 4.3.1.1).
fn body(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, ParseError> {
    let mut it = lines(text);
    match it.next() {
        Some((_, "#EXTM3U")) => Ok(it),
        Some((n, _)) => Err(err(n, "the first line must be #EXTM3U")),
        None => Err(err(1, "empty playlist")),
    }
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}
