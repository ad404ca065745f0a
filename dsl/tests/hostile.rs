//! Input a hostile user would write: values that change when they become
//! `f32`, and text the parser must not mishandle (byte-order marks, old Mac
//! line endings, invisible characters, unterminated strings and comments,
//! very long lines).

use nnc_dsl::{codes, compile, line_col, render};
use proptest::prelude::*;

// ---------------------------------------------------------------- f32 rounding

/// A spec with one float put where `place` says.
fn spec_with(place: &str, lit: &str) -> String {
    let (layer, opt, split) = match place {
        "dropout" => (
            format!("dropout({lit})"),
            "adam".to_string(),
            "0.2".to_string(),
        ),
        "lr" => (
            "dropout(0.5)".into(),
            format!("adam(lr = {lit})"),
            "0.2".into(),
        ),
        "beta2" => (
            "dropout(0.5)".into(),
            format!("adam(beta2 = {lit})"),
            "0.2".into(),
        ),
        "split" => ("dropout(0.5)".into(), "adam".into(), lit.to_string()),
        _ => unreachable!(),
    };
    format!(
        "network N(x: [4]) -> [2] {{\n    {layer}\n    dense(2) softmax\n}}\n\
         train N {{\n    loss categorical_crossentropy\n    optimizer {opt}\n    validation_split {split}\n}}\n"
    )
}

/// Whether the checker should accept `x` at `place`: judged on the `f32`.
fn valid(place: &str, x: f64) -> bool {
    let y = f64::from(x as f32);
    match place {
        "lr" => y > 0.0,
        _ => (0.0..1.0).contains(&y),
    }
}

#[track_caller]
fn rejected_with_rounding(place: &str, lit: &str, rounds_to: &str) {
    let src = spec_with(place, lit);
    let diags = compile(&src).expect_err(&src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, codes::OUT_OF_RANGE);
    assert!(
        diags[0].message.ends_with(&format!(
            "found `{lit}`, which rounds to {rounds_to} in f32"
        )),
        "{}",
        diags[0].message
    );
    assert_eq!(&src[diags[0].span.start..diags[0].span.end], lit);
}

#[test]
fn values_that_round_out_of_range_are_errors() {
    rejected_with_rounding("lr", "1e-50", "0.0");
    rejected_with_rounding("dropout", "0.99999999", "1.0");
    rejected_with_rounding("beta2", "0.999999999", "1.0");
    rejected_with_rounding("split", "0.99999999", "1.0");
}

fn near_bound() -> impl Strategy<Value = (&'static str, f64)> {
    let unit = prop_oneof![
        // Just below 1: f32 has 24 bits, so 1 - 2^-25 and closer round up.
        (1u32..40).prop_map(|k| 1.0 - 2f64.powi(-(k as i32))),
        (1u64..100_000).prop_map(|k| 1.0 - k as f64 * 1e-12),
        (0.0f64..1.0),
    ];
    let tiny = prop_oneof![
        // Around the smallest f32 subnormal, 1.4e-45.
        (-50.0f64..-35.0).prop_map(|e| 10f64.powf(e)),
        (1u64..1000).prop_map(|k| k as f64 * 1e-47),
    ];
    prop_oneof![
        (Just("dropout"), unit.clone()),
        (Just("beta2"), unit.clone()),
        (Just("split"), unit),
        (Just("lr"), tiny),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Accepted exactly when the value that will be used, the `f32`, is in range.
    #[test]
    fn range_checks_judge_the_f32_value((place, x) in near_bound()) {
        // `{:e}` prints the shortest text that parses back to the same f64.
        let lit = format!("{x:e}");
        let src = spec_with(place, &lit);
        let result = compile(&src);
        prop_assert_eq!(result.is_ok(), valid(place, x), "{} = {}", place, lit);
        if let Err(diags) = result {
            prop_assert_eq!(diags.len(), 1);
            prop_assert_eq!(diags[0].code, codes::OUT_OF_RANGE);
        }
    }
}
