//! Command-line options for the examples without a parsing crate (clap
//! alone took a sixth of the build of `cargo run --example mnist`):
//! `--name value`, `--name=value`, `--flag` and `--help`. Each example
//! includes this file as a module (`#[macro_use]`) and declares its options
//! with [`options!`].
#![allow(dead_code)]

use std::path::PathBuf;

/// A type an option's value is read as.
pub trait OptionValue: Sized {
    /// A flag takes no value: present means `true`.
    const FLAG: bool = false;
    /// Reads the text given after the option.
    fn parse_value(text: &str) -> Result<Self, String>;
    /// The value as `--help` shows a default (`None`: none to show).
    fn show(&self) -> Option<String>;
}

impl OptionValue for bool {
    const FLAG: bool = true;
    fn parse_value(_: &str) -> Result<Self, String> {
        Ok(true)
    }
    fn show(&self) -> Option<String> {
        None
    }
}

macro_rules! from_str_values {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            fn parse_value(text: &str) -> Result<Self, String> {
                text.parse::<$t>().map_err(|e| e.to_string())
            }
            fn show(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
from_str_values!(usize, u64, f32, f64, String);

impl OptionValue for PathBuf {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
    fn show(&self) -> Option<String> {
        Some(self.display().to_string())
    }
}

impl<T: OptionValue> OptionValue for Option<T> {
    fn parse_value(text: &str) -> Result<Self, String> {
        T::parse_value(text).map(Some)
    }
    fn show(&self) -> Option<String> {
        self.as_ref().and_then(T::show)
    }
}

/// Declares an options struct: each field is an option named after it
/// (`split_seed` is `--split-seed`), with an optional default (`Option`
/// fields default to `None`, flags to `false`). Generates `parse()` (from
/// the process's arguments; `--help` prints the field docs and exits 0, a
/// bad argument prints an error and exits 2) and `parse_from(args)`, whose
/// first item is the program name.
macro_rules! options {
    (
        $(#[doc = $about:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident : $ty:ty $(= $default:expr)?,
            )*
        }
    ) => {
        $(#[doc = $about])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl $name {
            /// The options of this process's command line.
            pub fn parse() -> Self {
                Self::parse_from(std::env::args())
            }

            /// The options of `args` (the program name first); prints help
            /// or an error and exits, as a command-line tool does.
            pub fn parse_from<I: IntoIterator<Item = S>, S: AsRef<str>>(args: I) -> Self {
                match Self::try_parse_from(args) {
                    Ok(options) => options,
                    Err((text, 0)) => {
                        print!("{text}");
                        std::process::exit(0)
                    }
                    Err((text, code)) => {
                        eprint!("{text}");
                        std::process::exit(code)
                    }
                }
            }

            fn defaults() -> Self {
                $name {
                    $($field: options!(@default $ty $(, $default)?),)*
                }
            }

            fn help(bin: &str) -> String {
                use self::options::OptionValue;
                let bin = std::path::Path::new(bin)
                    .file_name()
                    .map_or(bin.to_string(), |n| n.to_string_lossy().into_owned());
                let defaults = Self::defaults();
                let mut rows: Vec<(String, String)> = Vec::new();
                $(
                    let flag = format!("--{}", stringify!($field).replace('_', "-"));
                    let left = if <$ty as OptionValue>::FLAG {
                        flag
                    } else {
                        format!("{flag} <{}>", stringify!($field).to_uppercase())
                    };
                    let doc: Vec<&str> = vec![$($doc.trim()),*];
                    let mut right = doc.join(" ");
                    if let Some(d) = defaults.$field.show() {
                        right.push_str(&format!(" [default: {d}]"));
                    }
                    rows.push((left, right));
                )*
                rows.push(("-h, --help".into(), "Print help".into()));
                let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
                let about: Vec<&str> = vec![$($about.trim()),*];
                let mut text = format!("{}\n\nUsage: {bin} [OPTIONS]\n\nOptions:\n", about.join(" "));
                for (left, right) in rows {
                    text.push_str(&format!("  {left:width$}  {right}\n"));
                }
                text
            }

            fn try_parse_from<I: IntoIterator<Item = S>, S: AsRef<str>>(
                args: I,
            ) -> Result<Self, (String, i32)> {
                use self::options::OptionValue;
                let mut args = args.into_iter().map(|s| s.as_ref().to_string());
                let bin = args.next().unwrap_or_default();
                let fail = |what: String| {
                    (format!("error: {what}\n\nFor more information, try '--help'.\n"), 2)
                };
                let mut out = Self::defaults();
                while let Some(arg) = args.next() {
                    if arg == "--help" || arg == "-h" {
                        return Err((Self::help(&bin), 0));
                    }
                    let Some(body) = arg.strip_prefix("--") else {
                        return Err(fail(format!("unexpected argument '{arg}' found")));
                    };
                    let (key, inline) = match body.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (body.to_string(), None),
                    };
                    let mut known = false;
                    $(
                        if key == stringify!($field).replace('_', "-") {
                            known = true;
                            let text = match (<$ty as OptionValue>::FLAG, inline.clone()) {
                                (true, None) => String::new(),
                                (true, Some(_)) => {
                                    return Err(fail(format!("'--{key}' takes no value")));
                                }
                                (false, Some(v)) => v,
                                (false, None) => args.next().ok_or_else(|| {
                                    fail(format!("a value is required for '--{key}'"))
                                })?,
                            };
                            out.$field = <$ty as OptionValue>::parse_value(&text).map_err(|e| {
                                fail(format!("invalid value '{text}' for '--{key}': {e}"))
                            })?;
                        }
                    )*
                    if !known {
                        return Err(fail(format!("unexpected argument '--{key}' found")));
                    }
                }
                Ok(out)
            }
        }
    };
    (@default $ty:ty) => {
        <$ty as Default>::default()
    };
    (@default $ty:ty, $default:expr) => {
        $default
    };
}
