//! Runs the ladder transcoder alone (no packaging), to time or inspect the
//! rung files it makes; `package --ladder` runs it and then packages them.
//!
//! Usage: ladder INPUT OUTDIR SPEC SEGMENT_SECONDS [PRESET]
//! Prints one rung file path per line.

use std::path::PathBuf;

use shieldpack_core::ladder::{self, LadderSpec};
use shieldpack_core::progress::NoProgress;
use shieldpack_media::ladder::{self as transcoder, EncodeSettings};

fn main() {
    if let Err(e) = run() {
        eprintln!("ladder: {e}");
        if let Some(h) = e.hint() {
            eprintln!("\nhint: {h}");
        }
        std::process::exit(2);
    }
}

fn run() -> shieldpack_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err(shieldpack_core::Error::arg(
            "expected INPUT OUTDIR SPEC SEGMENT_SECONDS [PRESET]",
            "e.g. ladder title.mp4 rungs 1080p:6000k,720p:3000k 6",
        ));
    }
    let input = PathBuf::from(&args[0]);
    let dir = PathBuf::from(&args[1]);
    let spec: LadderSpec = args[2].parse()?;
    let seg: f64 = args[3]
        .parse()
        .map_err(|_| shieldpack_core::Error::arg("SEGMENT_SECONDS is not a number", "e.g. 6"))?;
    let mut settings = EncodeSettings::default();
    if let Some(p) = args.get(4) {
        settings.preset = p.clone();
    }
    std::fs::create_dir_all(&dir).map_err(|e| shieldpack_core::Error::io(&dir, e))?;
    let src = transcoder::source(&input)?;
    let rungs = match spec {
        LadderSpec::Auto => {
            let probe = transcoder::probe(&input, &NoProgress)?;
            ladder::auto_ladder(&probe, src.width, src.height, src.sar)
        }
        other => ladder::resolve(&other, src.width, src.height, src.sar)?,
    };
    let cuts = ladder::cut_times(src.duration, seg, &[]);
    let made = transcoder::transcode(&input, &dir, &rungs, &cuts, &settings, &NoProgress)?;
    for r in made.rungs {
        println!("{}", r.path.display());
    }
    Ok(())
}
