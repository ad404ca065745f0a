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

// ---------------------------------------------------------------- text

const GOOD: &str = "/// Doc.\nnetwork N(x: [4]) -> [2] {\n    // a comment\n    dense(8) relu\n    /* block */ dense(2) softmax\n}\ntrain N {\n    loss categorical_crossentropy\n    epochs 2\n}\n";

#[test]
fn a_byte_order_mark_is_skipped() {
    let with_bom = format!("\u{feff}{GOOD}");
    compile(&with_bom).unwrap();
    // The real error is reported, at the right column (the mark takes none).
    let bad = "\u{feff}network N(x: [4]) -> [2] { dense(3) }";
    let diags = compile(bad).unwrap_err();
    assert_eq!(diags[0].code, codes::OUTPUT_MISMATCH, "{diags:#?}");
    // Elsewhere the mark is an error that shows it.
    let inside = "network N(x: [4]) -> [2] {\u{feff} dense(2) }";
    let diags = compile(inside).unwrap_err();
    assert!(diags[0].message.contains("U+FEFF"), "{}", diags[0].message);
}

/// `GOOD` with every line break written as `eol`.
fn with_line_ends(eol: &str) -> String {
    GOOD.replace('\n', eol)
}

#[test]
fn old_mac_line_endings_end_comments_and_lines() {
    for eol in ["\n", "\r\n", "\r"] {
        let src = with_line_ends(eol);
        let program = compile(&src).unwrap_or_else(|d| panic!("{eol:?}: {d:#?}"));
        assert_eq!(program.networks[0].layers.len(), 2, "{eol:?}");
        // A mistake on line 4 is reported on line 4, column 11.
        let bad = src.replace("dense(8)", "dense(0)");
        let diags = compile(&bad).unwrap_err();
        assert_eq!(line_col(&bad, diags[0].span.start), (4, 11), "{eol:?}");
        let text = render(&diags, "mac.nn", &bad);
        assert!(text.contains("--> mac.nn:4:11"), "{eol:?}: {text}");
        assert!(text.contains("4 |     dense(0) relu"), "{eol:?}: {text}");
    }
    // A commented-out layer stays commented out, and nothing else is.
    let src = "network N(x: [4]) -> [2] {\r    // dense(99)\r    dense(2)\r}\r";
    let program = compile(src).unwrap();
    assert_eq!(program.networks[0].layers.len(), 1);
}

#[test]
fn invisible_characters_are_shown_as_escapes() {
    let cases = [
        ('\u{a0}', "U+00A0 (no-break space)"),
        ('\u{200b}', "U+200B (zero-width space)"),
        ('\u{feff}', "U+FEFF"),
        ('\u{200e}', "U+200E"),
        ('\u{2060}', "U+2060"),
        ('\u{3000}', "U+3000"),
        ('\u{1}', "U+0001"),
        ('\u{7f}', "U+007F"),
    ];
    for (c, shown) in cases {
        // Where a blank would go, and glued to a name.
        for src in [
            format!("network N(x: [4]) ->{c}[2] {{ dense(2) }}"),
            format!("network N(x: [4]) -> [2] {{ dense{c}(2) }}"),
        ] {
            let diags = compile(&src).unwrap_err();
            let d = &diags[0];
            assert_eq!(d.code, codes::SYNTAX);
            assert!(d.message.contains(shown), "{c:?}: {}", d.message);
            let text = render(&diags, "x.nn", &src);
            let header = text.lines().next().unwrap();
            assert!(header.is_ascii(), "{c:?}: {header}");
            assert_eq!(&src[d.span.start..d.span.end], c.to_string());
        }
    }
    // Messages quoting user text escape them too (a string value here).
    let src = "network N(x: [4]) -> [2] { dense(2, name = \"a\u{a0}b\") }";
    let diags = compile(src).unwrap_err();
    let text = render(&diags, "x.nn", src);
    let first = text.lines().next().unwrap();
    assert!(first.contains("aU+00A0b"), "{first}");
    assert!(diags[0].to_string().contains("aU+00A0b"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any format or odd-space character anywhere a blank may go is
    /// reported as an escape, never as itself.
    #[test]
    fn odd_characters_never_reach_a_message(
        c in prop::sample::select(vec!['\u{a0}', '\u{ad}', '\u{200b}', '\u{200c}', '\u{200d}',
            '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{fe0f}',
            '\u{e0041}', '\u{180e}', '\u{2007}', '\u{202f}', '\u{1b}', '\u{85}']),
        at in 0usize..6,
    ) {
        let places = ["network", "N(x:", "[4])", "->", "[2]", "{"];
        let mut words: Vec<String> = places.iter().map(|w| w.to_string()).collect();
        words[at].push(c);
        let src = format!("{} dense(2) }}", words.join(" "));
        let diags = compile(&src).unwrap_err();
        let text = render(&diags, "x.nn", &src);
        let first = text.lines().next().unwrap();
        prop_assert!(!first.contains(c), "{}", first);
        prop_assert!(first.contains(&format!("U+{:04X}", c as u32)), "{}", first);
    }
}

#[test]
fn unterminated_strings_and_comments_are_reported_where_they_open() {
    let tail = "\n    dense(2)\n}\n".repeat(20);
    let cases = [
        (
            "network N(x: [4]) -> [2] {\n    dense(2, name = \"oops)",
            "\"",
            codes::UNTERMINATED,
        ),
        (
            "network N(x: [4]) -> [2] {\n    /* dense(3)",
            "/*",
            codes::UNTERMINATED,
        ),
        (
            "network N(x: [4]) -> [2] {\n    dense(2) /* a /* b */ */",
            "*/",
            codes::SYNTAX,
        ),
    ];
    for (head, opener, code) in cases {
        let src = format!("{head}{tail}");
        let diags = compile(&src).unwrap_err();
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].code, code, "{diags:#?}");
        let at = src.find(opener).unwrap();
        if code == codes::UNTERMINATED {
            assert_eq!(diags[0].span.start, at, "{}", diags[0].message);
            assert_eq!(line_col(&src, at).0, 2);
        }
    }
    // A quote inside a comment and a comment opener inside a string do not count.
    let src = "network N(x: [4]) -> [2] {\n    // \"\n    dense(2, name = \"a/*b\")\n    dense(2, name = \"oops)\n}\n";
    let diags = compile(src).unwrap_err();
    assert_eq!(diags[0].code, codes::UNTERMINATED);
    assert_eq!(line_col(src, diags[0].span.start), (4, 21));
}

#[test]
fn fat_arrow_gets_help_in_signatures_and_train_blocks() {
    let src = "network N(x: [4]) => [2] { dense(2) }";
    let d = &compile(src).unwrap_err()[0];
    assert!(d.message.ends_with("found `=>`"), "{}", d.message);
    assert!(d.help.as_deref().unwrap().contains("`->`"), "{d:#?}");
    let src = "network N(x: [4]) -> [2] { dense(2) }\ntrain N {\n    loss => mse\n}\n";
    let d = &compile(src).unwrap_err()[0];
    assert_eq!(line_col(src, d.span.start), (3, 10));
    assert!(d.message.ends_with("found `=>`"), "{}", d.message);
    assert!(d.help.as_deref().unwrap().contains("`key value`"), "{d:#?}");
}

#[test]
fn diagnostics_on_a_very_long_line_show_a_window() {
    // 100 layers out of range on one line of about 100 KB.
    let pad = " ".repeat(1000);
    let body: String = (0..100).map(|_| format!("dropout(2){pad}")).collect();
    let src = format!("network N(x: [4]) -> [4] {{ {body}}}");
    assert!(src.len() > 100_000);
    let diags = compile(&src).unwrap_err();
    assert_eq!(diags.len(), 100);
    let text = render(&diags, "long.nn", &src);
    assert!(text.len() < 100 * 600, "{} bytes", text.len());
    // Each still points at its own `2`, with the right column.
    for (d, block) in diags.iter().zip(text.split("error[").skip(1)) {
        let (line, col) = line_col(&src, d.span.start);
        assert!(
            block.contains(&format!("--> long.nn:{line}:{col}")),
            "{block}"
        );
        assert!(
            block.contains("dropout(2)") && block.contains("..."),
            "{block}"
        );
        let source_line = block.lines().find(|l| l.starts_with("1 |")).unwrap();
        let caret_line = block.lines().find(|l| l.contains('^')).unwrap();
        let caret = caret_line.find('^').unwrap();
        assert_eq!(&source_line[caret..caret + 1], "2", "{block}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// A mistake anywhere on a long line: the window holds it, the caret is
    /// under it, and the output stays small.
    #[test]
    fn long_line_windows(before in 0usize..5000, after in 0usize..5000, width in 1usize..400) {
        let name = "x".repeat(width);
        let src = format!(
            "network N(x: [4]) -> [4] {{{}dropout({name}){}}}",
            " ".repeat(before),
            " ".repeat(after)
        );
        let diags = compile(&src).unwrap_err();
        let text = render(&diags, "p.nn", &src);
        prop_assert!(text.len() < 1200, "{} bytes", text.len());
        let (line, col) = line_col(&src, diags[0].span.start);
        prop_assert!(text.contains(&format!("--> p.nn:{line}:{col}")), "{}", text);
        let source_line = text.lines().find(|l| l.starts_with("1 |")).unwrap();
        let caret = text.lines().find(|l| l.contains('^')).unwrap().find('^').unwrap();
        prop_assert_eq!(&source_line[caret..caret + 1], "x");
    }
}

// ---------------------------------------------------------------- fronts

#[test]
fn a_byte_order_mark_is_skipped_by_every_front() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nnc-dsl-bom");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bom.nn");
    std::fs::write(&path, format!("\u{feff}{GOOD}")).unwrap();
    // build.rs and `nnc emit`.
    let code = nnc_dsl::build::compile_file(&path).unwrap();
    assert!(code.contains("pub struct N"), "{code}");
    // `include_network!` (an absolute path is used as it is).
    let lit = proc_macro2::Literal::string(path.to_str().unwrap());
    let out = nnc_dsl::expand::expand_file(proc_macro2::TokenTree::Literal(lit).into()).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("struct N"), "{out}");
}

#[test]
fn a_span_over_several_long_lines_is_shown_cut() {
    // The duplicate train block spans three lines of 20 KB each.
    let pad = " ".repeat(20_000);
    let train = format!("train N {{{pad}\n    loss mse{pad}\n    epochs 2{pad}\n}}\n");
    let src = format!("network N(x: [4]) -> [2] {{ dense(2) }}\n{train}{train}");
    let diags = compile(&src).unwrap_err();
    assert_eq!(diags[0].code, codes::DUPLICATE_TRAIN, "{diags:#?}");
    let text = render(&diags, "multi.nn", &src);
    assert!(text.len() < 3000, "{} bytes:\n{text}", text.len());
}
