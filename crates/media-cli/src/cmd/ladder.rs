//! `package MEZZANINE --ladder SPEC`: the transcode-then-package run, and the
//! lines that tell the user which ladder was chosen (for `auto`, why).

use shieldpack::output::Printer;
use shieldpack_core::keys::Keyring;
use shieldpack_core::ladder::LadderSpec;
use shieldpack_core::progress::Progress;
use shieldpack_media::ladder::EncodeSettings;
use shieldpack_package::{ladder, Options, Outcome};

pub fn run(
    o: &Options,
    spec: &LadderSpec,
    keyring: Option<&Keyring>,
    progress: &dyn Progress,
    p: &Printer,
) -> shieldpack_core::Result<Outcome> {
    let made = ladder::package_ladder(o, spec, &EncodeSettings::default(), keyring, progress)?;
    if let Some(probe) = &made.probe {
        p.info(format!(
            "ladder auto: the title costs {:.0} kb/s at {}x{} and CRF 23 (the complexity probe)",
            probe.kbps, probe.width, probe.height
        ));
    }
    let rungs: Vec<String> = made
        .rungs
        .iter()
        .map(|r| format!("{}x{}@{}k", r.width, r.height, r.kbps))
        .collect();
    p.info(format!(
        "ladder: {} (keyframes forced at {} cuts in every rung)",
        rungs.join(", "),
        made.cuts.len()
    ));
    Ok(made.outcome)
}
