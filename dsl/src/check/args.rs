//! Argument values: binding arguments to parameters, and reading each
//! value as the type and range its parameter needs, reporting E02xx errors.

use crate::ast::{Arg, Call, Value, ValueKind};
use crate::diag::{codes, suggestion, Diagnostic};

use super::Checker;

/// A numeric range for argument checks, with how to say it.
#[derive(Clone, Copy)]
pub(crate) struct Range {
    min: f64,
    min_incl: bool,
    max: f64,
    max_incl: bool,
}

impl Range {
    const fn new(min: f64, min_incl: bool, max: f64, max_incl: bool) -> Self {
        Range {
            min,
            min_incl,
            max,
            max_incl,
        }
    }
    pub(crate) fn contains(&self, x: f64) -> bool {
        let lo = if self.min_incl {
            x >= self.min
        } else {
            x > self.min
        };
        let hi = if self.max_incl {
            x <= self.max
        } else {
            x < self.max
        };
        lo && hi
    }
    pub(crate) fn describe(&self) -> String {
        let max_inf = self.max == f64::MAX;
        match (self.min_incl, max_inf) {
            (true, true) => format!("at least {}", self.min),
            (false, true) => format!("greater than {}", self.min),
            _ => format!(
                "in {}{}, {}{}",
                if self.min_incl { "[" } else { "(" },
                self.min,
                self.max,
                if self.max_incl { "]" } else { ")" }
            ),
        }
    }
}

pub(crate) const POSITIVE: Range = Range::new(0.0, false, f64::MAX, true);
pub(crate) const NON_NEGATIVE: Range = Range::new(0.0, true, f64::MAX, true);
pub(crate) const UNIT_OPEN: Range = Range::new(0.0, true, 1.0, false);
/// (0, 1]: a decay factor.
pub(crate) const FRACTION: Range = Range::new(0.0, false, 1.0, true);
pub(crate) const ANY: Range = Range::new(f64::MIN, true, f64::MAX, true);

/// A parameter: its name and the other names it answers to.
pub(crate) type Param = (&'static str, &'static [&'static str]);

/// Arguments bound to parameters, in parameter order.
pub(crate) struct Bound<'a> {
    pub(crate) args: Vec<Option<&'a Arg>>,
    names: Vec<&'static str>,
}

impl<'a> Bound<'a> {
    pub(crate) fn get(&self, i: usize) -> Option<&'a Value> {
        self.args[i].map(|a| &a.value)
    }

    /// The argument given for the parameter called `name`, however it was
    /// written (by position, name or alias).
    ///
    /// # Panics
    /// If `name` is not in the schema `bind` was given: a compiler bug, not
    /// a spec error.
    pub(crate) fn arg(&self, name: &str) -> Option<&'a Arg> {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("`{name}` is not a parameter of this schema"));
        self.args[i]
    }

    /// The value given for the parameter called `name` (see [`Bound::arg`]).
    pub(crate) fn value(&self, name: &str) -> Option<&'a Value> {
        self.arg(name).map(|a| &a.value)
    }
}

pub(crate) fn describe(v: &Value) -> String {
    match &v.kind {
        ValueKind::Number(n) => format!("`{}`", n.text),
        ValueKind::Str(s) if s.len() <= 32 => format!("the string {s:?}"),
        ValueKind::Str(_) => "a string".into(),
        ValueKind::Bool(b) => format!("`{b}`"),
        ValueKind::List(_) => "a list".into(),
        ValueKind::Call(c) if c.span.end - c.span.start <= 40 => format!("`{c}`"),
        ValueKind::Call(c) => format!("`{}(...)`", c.name.name),
    }
}

impl Checker {
    pub(crate) fn wrong_type(&mut self, v: &Value, expected: &str, what: &str) {
        self.push(Diagnostic::error(
            codes::WRONG_TYPE,
            format!("{what} expects {expected}, found {}", describe(v)),
            v.span,
            format!("expected {expected}"),
        ));
    }

    pub(crate) fn out_of_range(&mut self, v: &Value, range: &str, what: &str) {
        self.push(Diagnostic::error(
            codes::OUT_OF_RANGE,
            format!("{what} must be {range}, found {}", describe(v)),
            v.span,
            format!("must be {range}"),
        ));
    }

    /// An integer in `min..=max`.
    pub(crate) fn int(&mut self, v: &Value, what: &str, min: i128, max: i128) -> Option<i128> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "an integer", what);
            return None;
        };
        if !n.is_integer() {
            self.wrong_type(v, "an integer", what);
            return None;
        }
        let range = if max == i128::from(u64::MAX) || max == i128::from(i64::MAX) {
            format!("at least {min}")
        } else {
            format!("in {min}..={max}")
        };
        match n.text.parse::<i128>() {
            Ok(x) if (min..=max).contains(&x) => Some(x),
            _ => {
                self.out_of_range(v, &range, what);
                None
            }
        }
    }

    pub(crate) fn usize(&mut self, v: &Value, what: &str, min: usize, max: usize) -> Option<usize> {
        self.int(v, what, min as i128, max as i128)
            .map(|x| x as usize)
    }

    /// A finite number that fits an `f32`, in `range`.
    pub(crate) fn float(&mut self, v: &Value, what: &str, range: Range) -> Option<f32> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "a number", what);
            return None;
        };
        let x = n.as_f64();
        if !x.is_finite() || x.abs() > f64::from(f32::MAX) {
            self.out_of_range(v, "a finite 32-bit float", what);
            return None;
        }
        if !range.contains(x) {
            self.out_of_range(v, &range.describe(), what);
            return None;
        }
        // The spec's value is used as an `f32`; check that one, or
        // `lr = 1e-50` would become 0 and `dropout(0.99999999)` 1.0.
        let y = x as f32;
        if !range.contains(f64::from(y)) {
            let range = range.describe();
            self.push(
                Diagnostic::error(
                    codes::OUT_OF_RANGE,
                    format!(
                        "{what} must be {range}, found {}, which rounds to {y:?} in f32",
                        describe(v)
                    ),
                    v.span,
                    format!("rounds to {y:?} in f32"),
                )
                .with_help(format!(
                    "values are stored as 32-bit floats; pick one that stays {range} after rounding"
                )),
            );
            return None;
        }
        Some(y)
    }

    pub(crate) fn boolean(&mut self, v: &Value, what: &str) -> Option<bool> {
        match v.kind {
            ValueKind::Bool(b) => Some(b),
            _ => {
                self.wrong_type(v, "`true` or `false`", what);
                None
            }
        }
    }

    pub(crate) fn string<'a>(&mut self, v: &'a Value, what: &str) -> Option<&'a str> {
        match &v.kind {
            ValueKind::Str(s) => Some(s),
            _ => {
                self.wrong_type(v, "a string in double quotes", what);
                None
            }
        }
    }

    /// A name or call such as `he_normal` or `normal(0, 0.1)`.
    pub(crate) fn callee<'a>(
        &mut self,
        v: &'a Value,
        expected: &str,
        what: &str,
    ) -> Option<&'a Call> {
        match &v.kind {
            ValueKind::Call(c) => Some(c),
            _ => {
                self.wrong_type(v, expected, what);
                None
            }
        }
    }

    /// Matches a call's arguments to parameters: positional ones in order,
    /// named ones by name or alias. Reports extra, unknown and repeated ones.
    pub(crate) fn bind<'a>(
        &mut self,
        what: &str,
        args: &'a [Arg],
        params: &[Param],
        positional_max: usize,
    ) -> Bound<'a> {
        let positional_max = positional_max.min(params.len());
        let mut bound: Vec<Option<&'a Arg>> = vec![None; params.len()];
        let mut positional = 0;
        for arg in args {
            let idx = match &arg.name {
                None => {
                    if positional >= positional_max {
                        let n = positional_max;
                        let mut d = Diagnostic::error(
                            codes::TOO_MANY_ARGUMENTS,
                            format!(
                                "{what} takes {} positional argument{}, found more",
                                if n == 0 {
                                    "no".to_string()
                                } else {
                                    format!("at most {n}")
                                },
                                if n == 1 { "" } else { "s" }
                            ),
                            arg.span,
                            "unexpected argument",
                        );
                        let named: Vec<&str> =
                            params[n.min(params.len())..].iter().map(|p| p.0).collect();
                        d = d.with_help(if named.is_empty() {
                            "remove the argument".to_string()
                        } else {
                            format!("the other arguments are named: {}", named.join(", "))
                        });
                        self.push(d);
                        continue;
                    }
                    positional += 1;
                    positional - 1
                }
                Some(name) => {
                    let found = params.iter().position(|(p, aliases)| {
                        *p == name.name || aliases.contains(&name.name.as_str())
                    });
                    match found {
                        Some(i) => i,
                        None => {
                            let all: Vec<&str> = params
                                .iter()
                                .flat_map(|(p, a)| std::iter::once(*p).chain(a.iter().copied()))
                                .collect();
                            let help = if all.is_empty() {
                                format!("{what} takes no arguments")
                            } else {
                                suggestion(&name.name, &all)
                            };
                            self.push(
                                Diagnostic::error(
                                    codes::UNKNOWN_ARGUMENT,
                                    if all.is_empty() {
                                        format!(
                                            "unknown argument `{}` for {what}, which takes none",
                                            name.name
                                        )
                                    } else {
                                        format!(
                                            "unknown argument `{}` for {what}: expected one of {}",
                                            name.name,
                                            all.join(", ")
                                        )
                                    },
                                    name.span,
                                    "unknown argument",
                                )
                                .with_help(help),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = bound[idx] {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_ARGUMENT,
                        format!(
                            "argument `{}` of {what} is given twice; expected it at most once",
                            params[idx].0
                        ),
                        arg.span,
                        "given again here",
                    )
                    .with_label(first.span, "first given here")
                    .with_help("keep one of them"),
                );
                continue;
            }
            bound[idx] = Some(arg);
        }
        Bound {
            args: bound,
            names: params.iter().map(|p| p.0).collect(),
        }
    }
}
