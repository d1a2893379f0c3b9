//! Playlists: `MediaPlaylist::parse` and `MasterPlaylist::parse` never panic,
//! fail with a line number and a message, and read back what the writers write.

use proptest::prelude::*;
use shieldpack_core::hls::{
    Key, KeyMethod, MasterPlaylist, MediaPlaylist, MediaSegment, PlaylistType, Variant,
};

use crate::{config, mutate_str, mutation};

/// A URI line: no '#' first, no line breaks, no leading/trailing blanks that
/// the parser would trim (it trims only '\r' at the end and skips blank lines).
fn uri() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9_./?=&%-]{0,30}"
}

/// A quoted-string attribute value: RFC 8216 forbids '"', CR and LF.
fn quoted_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ ,.:/=?&{}-]{1,30}"
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        Just(Key::none()),
        (
            prop_oneof![Just(KeyMethod::Aes128), Just(KeyMethod::SampleAes)],
            quoted_value(),
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(quoted_value()),
        )
            .prop_map(|(method, uri, iv, keyformat)| Key {
                method,
                uri: Some(uri),
                iv,
                keyformat,
                keyid: None,
                keyformatversions: None,
            }),
    ]
}

fn media_playlist() -> impl Strategy<Value = MediaPlaylist> {
    let segment =
        (0u64..100_000_000, uri(), proptest::option::of(key())).prop_map(|(ms, uri, key)| {
            MediaSegment {
                // The writer keeps milliseconds.
                duration: ms as f64 / 1000.0,
                uri,
                key,
                extra_keys: Vec::new(),
                line: 0,
            }
        });
    (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(prop_oneof![
            Just(PlaylistType::Vod),
            Just(PlaylistType::Event)
        ]),
        any::<bool>(),
        proptest::collection::vec(segment, 0..12),
        any::<bool>(),
    )
        .prop_map(
            |(
                version,
                target_duration,
                media_sequence,
                playlist_type,
                independent_segments,
                segments,
                end_list,
            )| {
                MediaPlaylist {
                    version,
                    target_duration,
                    media_sequence,
                    playlist_type,
                    independent_segments,
                    map: None,
                    segments,
                    end_list,
                }
            },
        )
}

fn master_playlist() -> impl Strategy<Value = MasterPlaylist> {
    let variant = (
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::option::of(quoted_value()),
        proptest::option::of(0u32..10_000_000),
        uri(),
    )
        .prop_map(
            |(bandwidth, average_bandwidth, resolution, codecs, fr, uri)| Variant {
                bandwidth,
                average_bandwidth,
                resolution,
                codecs,
                // The writer keeps three decimals.
                frame_rate: fr.map(|f| f as f64 / 1000.0),
                audio: None,
                subtitles: None,
                uri,
            },
        );
    (
        any::<u32>(),
        any::<bool>(),
        proptest::collection::vec(variant, 0..8),
    )
        .prop_map(|(version, independent_segments, variants)| MasterPlaylist {
            version,
            independent_segments,
            media: Vec::new(),
            variants,
        })
}

fn strip_lines(mut p: MediaPlaylist) -> MediaPlaylist {
    for s in &mut p.segments {
        s.line = 0;
    }
    p
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn media_round_trips(p in media_playlist()) {
        let text = p.write();
        let back = MediaPlaylist::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(strip_lines(back), p);
    }

    #[test]
    fn master_round_trips(p in master_playlist()) {
        let text = p.write();
        let back = MasterPlaylist::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, p);
    }

    #[test]
    fn media_mutated_never_panics(p in media_playlist(), ms in proptest::collection::vec(mutation(), 1..6)) {
        let text = mutate_str(&p.write(), &ms);
        check_media(&text)?;
    }

    #[test]
    fn master_mutated_never_panics(p in master_playlist(), ms in proptest::collection::vec(mutation(), 1..6)) {
        let text = mutate_str(&p.write(), &ms);
        check_master(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(#EXTM3U\n)?((#EXT[-A-Z]{0,20}(:[ -~]{0,40})?|[ -~]{0,20}|\u{0}|\r|\u{feff}|é)\n){0,20}") {
        check_media(&text)?;
        check_master(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        check_media(&text)?;
        check_master(&text)?;
    }
}

/// Parses; an error must name a line within the text and say something.
fn check_media(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = MediaPlaylist::parse(text) {
        check_error(text, e.line, &e.to_string(), &e.message)?;
    }
    Ok(())
}

fn check_master(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = MasterPlaylist::parse(text) {
        check_error(text, e.line, &e.to_string(), &e.message)?;
    }
    Ok(())
}

fn check_error(text: &str, line: usize, shown: &str, message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "empty message: {shown}");
    prop_assert!(line >= 1, "line 0: {shown}");
    prop_assert!(
        line <= text.lines().count().max(1),
        "line {line} past the end: {shown}"
    );
    Ok(())
}
