//! Per-session playlists over an A/B package (placeholder, filled below).
