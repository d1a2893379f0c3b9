//! FFmpeg demux and mux.
