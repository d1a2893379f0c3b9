//! Policy files (`policy::check`, text -> diagnostics) and rotation configs
//! (`policy::rotation::parse`): never panic; every diagnostic has a position
//! inside the text and a message with a hint; a valid policy checks clean.

use proptest::prelude::*;
use shieldpack_core::policy::{self, rotation};

use crate::{config, mutate_str, mutation, nasty_number};

const POLICY: &str = r#"{
  "scenes": [
    {"label": "intro", "start": "00:00:00", "end": "00:00:04.500", "drm_level": "clear", "hdcp": false},
    {"label": "main", "start": 4.5, "end": "10", "drm_level": "L1", "hdcp": "2.2"},
    {"label": "credits", "start": "00:00:10", "end": 12, "drm_level": "L3"}
  ]
}
"#;

const ROTATION: &str = r#"{
  "stream_id": "channel-1",
  "key_rotation": {
    "enabled": true,
    "interval_minutes": 10,
    "pre_delivery_seconds": 30,
    "on_compromise": "rotate",
    "algorithm": "AES-128-CBC",
    "key_derivation": "HKDF-SHA256"
  }
}
"#;

#[test]
fn the_seeds_are_valid() {
    let c = policy::check(POLICY, Some(12.0));
    assert!(c.valid(), "{:?}", c.errors);
    rotation::parse("rot.json".as_ref(), ROTATION).unwrap();
}

fn check_policy(text: &str, duration: Option<f64>) -> Result<(), TestCaseError> {
    let c = policy::check(text, duration);
    let lines = text.split('\n').count().max(1);
    for d in c.errors.iter().chain(&c.warnings) {
        prop_assert!(!d.message.trim().is_empty(), "empty message: {d:?}");
        prop_assert!(!d.hint.trim().is_empty(), "no hint: {d:?}");
        prop_assert!(
            d.line >= 1 && d.line <= lines + 1,
            "line out of the text: {d:?}"
        );
        prop_assert!(d.column >= 1, "column 0: {d:?}");
    }
    prop_assert_eq!(c.policy.is_some(), c.errors.is_empty());
    if let Some(p) = &c.policy {
        for s in &p.scenes {
            prop_assert!(
                s.start.is_finite() && s.end.is_finite() && s.start <= s.end,
                "{s:?}"
            );
        }
        // A policy that checks clean can be written and checks clean again.
        let again = policy::check(&p.to_json(), duration);
        prop_assert!(again.valid(), "{:?}\n{}", again.errors, p.to_json());
    }
    Ok(())
}

fn check_rotation(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = rotation::parse("cfg/rot.json".as_ref(), text) {
        let shown = e.to_string();
        prop_assert!(shown.contains("rot.json"), "error names no file: {shown}");
    }
    Ok(())
}

/// A policy scene built from arbitrary (often wrong) field values.
fn scene_json() -> impl Strategy<Value = String> {
    let time = prop_oneof![
        nasty_number(),
        "\"[0-9]{1,3}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,8})?\"",
        "\"[0-9.:eE+-]{0,12}\"",
    ];
    let level = prop_oneof![
        Just("\"L1\""),
        Just("\"L3\""),
        Just("\"clear\""),
        Just("\"L9\""),
        Just("1")
    ];
    let hdcp = prop_oneof![
        Just("false"),
        Just("true"),
        Just("\"2.3\""),
        Just("\"9\""),
        Just("null")
    ];
    (time.clone(), time, level, hdcp, "[ -!#-\\[\\]-~]{0,10}").prop_map(|(s, e, l, h, label)| {
        format!(r#"{{"label":"{label}","start":{s},"end":{e},"drm_level":{l},"hdcp":{h}}}"#)
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn policy_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..8), d in proptest::option::of(0.0f64..1e6)) {
        check_policy(&mutate_str(POLICY, &ms), d)?;
    }

    #[test]
    fn policy_generated_scenes_never_panic(scenes in proptest::collection::vec(scene_json(), 0..6), d in proptest::option::of(prop_oneof![Just(f64::NAN), Just(-1.0), Just(f64::INFINITY), 0.0f64..1e9])) {
        check_policy(&format!("{{\"scenes\":[{}]}}", scenes.join(",")), d)?;
    }

    #[test]
    fn policy_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_policy(&String::from_utf8_lossy(&bytes), None)?;
    }

    #[test]
    fn rotation_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..8)) {
        check_rotation(&mutate_str(ROTATION, &ms))?;
    }

    #[test]
    fn rotation_generated_values_never_panic(interval in nasty_number(), pre in nasty_number(), enabled in prop_oneof![Just("true"), Just("false"), Just("1"), Just("null")]) {
        check_rotation(&format!(r#"{{"key_rotation":{{"enabled":{enabled},"interval_minutes":{interval},"pre_delivery_seconds":{pre}}}}}"#))?;
    }

    #[test]
    fn rotation_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_rotation(&String::from_utf8_lossy(&bytes))?;
    }
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
    for text in [
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!(
            "{{\"scenes\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    ] {
        assert!(!policy::check(&text, None).valid());
        assert!(rotation::parse("rot.json".as_ref(), &text).is_err());
    }
}
