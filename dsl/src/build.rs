//! The build-script front: compile `.nn` specs into `OUT_DIR`.
//!
//! In `build.rs`, with `nnc-dsl` as a build dependency:
//!
//! ```no_run
//! nnc_dsl::build::compile_specs("specs");
//! ```
//! and in the crate: `include!(concat!(env!("OUT_DIR"), "/mnist.rs"));`
//! for `specs/mnist.nn`.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a build failed.
#[derive(Debug)]
pub enum BuildError {
    /// A spec or the output directory could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A spec is not valid UTF-8.
    NotUtf8(PathBuf),
    /// One or more specs have errors; the text is the rendered diagnostics.
    Spec(String),
    /// `OUT_DIR` is not set (not running inside a build script).
    NoOutDir,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            BuildError::NotUtf8(path) => write!(f, "{}: spec is not valid UTF-8", path.display()),
            BuildError::Spec(rendered) => f.write_str(rendered),
            BuildError::NoOutDir => {
                f.write_str("OUT_DIR is not set: call this from a build script")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Compiles spec text to formatted Rust source, or to rendered diagnostics
/// naming `file_name`. The same function backs `nnc emit` and build scripts,
/// and gives the same code as `network!` for the same spec.
pub fn emit_source(src: &str, file_name: &str) -> Result<String, BuildError> {
    emit_with_warnings(src, file_name).map(|(code, _)| code)
}

/// [`emit_source`], and the warnings a build shows (those `network!` shows
/// too), one line each: `file:line:column: warning[CODE]: message`.
fn emit_with_warnings(src: &str, file_name: &str) -> Result<(String, Vec<String>), BuildError> {
    let program = crate::compile(src)
        .map_err(|diags| BuildError::Spec(crate::render(&diags, file_name, src)))?;
    let tokens = crate::emit::emit_program(&program);
    let code = crate::emit::format(tokens).map_err(|e| {
        BuildError::Spec(format!(
            "internal error: generated code does not parse: {e}"
        ))
    })?;
    let warnings = program
        .warnings
        .iter()
        .filter(|d| crate::expand::in_rustc(d))
        .map(|d| {
            let (line, column) = crate::line_col(src, d.span.start);
            let mut text = format!(
                "{file_name}:{line}:{column}: warning[{}]: {}",
                d.code, d.message
            );
            if let Some(help) = &d.help {
                text.push_str(&format!(" (help: {help})"));
            }
            crate::diag::escape_invisible(&text.replace(['\n', '\r'], " ")).into_owned()
        })
        .collect();
    Ok((code, warnings))
}

/// Compiles one `.nn` file to Rust source.
pub fn compile_file(path: impl AsRef<Path>) -> Result<String, BuildError> {
    compile_file_with_warnings(path.as_ref()).map(|(code, _)| code)
}

fn compile_file_with_warnings(path: &Path) -> Result<(String, Vec<String>), BuildError> {
    let bytes = std::fs::read(path).map_err(|error| BuildError::Io {
        path: path.into(),
        error,
    })?;
    let src = String::from_utf8(bytes).map_err(|_| BuildError::NotUtf8(path.into()))?;
    emit_with_warnings(&src, &path.display().to_string())
}

/// The `.nn` files at `path`: the file itself, or every `.nn` file directly
/// in the directory, sorted.
fn spec_files(path: &Path) -> Result<Vec<PathBuf>, BuildError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let io = |error| BuildError::Io {
        path: path.into(),
        error,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.extension().is_some_and(|e| e == "nn") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Compiles the spec file or directory at `path` (relative to the crate
/// root) into `OUT_DIR/<stem>.rs`, and tells Cargo to rerun when it changes.
/// Every spec is compiled and every error reported before failing; the
/// warnings `network!` would show (W0001, W0002) become Cargo warnings.
pub fn try_compile_specs(path: impl AsRef<Path>) -> Result<Vec<PathBuf>, BuildError> {
    let path = path.as_ref();
    println!("cargo:rerun-if-changed={}", path.display());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?);
    compile_specs_into(path, &out_dir)
}

/// [`try_compile_specs`] writing into `out_dir` instead of `OUT_DIR`.
pub fn compile_specs_into(path: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut written = Vec::new();
    let mut failures = String::new();
    // Only a build script's output is read by Cargo.
    let in_build_script = std::env::var_os("OUT_DIR").is_some();
    for file in spec_files(path)? {
        if in_build_script {
            println!("cargo:rerun-if-changed={}", file.display());
        }
        match compile_file_with_warnings(&file) {
            Ok((code, warnings)) => {
                if in_build_script {
                    for w in warnings {
                        println!("cargo:warning={w}");
                    }
                }
                let stem = file
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let out = out_dir.join(format!("{stem}.rs"));
                std::fs::write(&out, code).map_err(|error| BuildError::Io {
                    path: out.clone(),
                    error,
                })?;
                written.push(out);
            }
            Err(e) => failures.push_str(&e.to_string()),
        }
    }
    if failures.is_empty() {
        Ok(written)
    } else {
        Err(BuildError::Spec(failures))
    }
}

/// [`try_compile_specs`] for a build script: on error prints the rendered
/// diagnostics and fails the build.
pub fn compile_specs(path: impl AsRef<Path>) {
    if let Err(e) = try_compile_specs(path) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_file_per_spec_and_reports_every_error_with_its_place() {
        let dir = std::env::temp_dir().join(format!("nnc-build-{}", std::process::id()));
        let (specs, out) = (dir.join("specs"), dir.join("out"));
        std::fs::create_dir_all(&specs).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            specs.join("good.nn"),
            "network Good(x: [2]) -> [1] { dense(1) }\n",
        )
        .unwrap();
        let written = compile_specs_into(&specs, &out).unwrap();
        assert_eq!(written, vec![out.join("good.rs")]);
        assert!(std::fs::read_to_string(&written[0])
            .unwrap()
            .contains("pub struct Good"));

        std::fs::write(
            specs.join("bad.nn"),
            "network Bad(image: [28, 28]) -> [10] {\n    dense(10)\n}\n",
        )
        .unwrap();
        std::fs::write(
            specs.join("worse.nn"),
            "network Worse(x: [2]) -> [3] {\n    dense(2)\n}\n",
        )
        .unwrap();
        let err = compile_specs_into(&specs, &out).unwrap_err().to_string();
        let bad = specs.join("bad.nn").display().to_string();
        let worse = specs.join("worse.nn").display().to_string();
        assert!(err.contains(&format!("{bad}:2:5")), "{err}");
        assert!(err.contains(&format!("{worse}:1:26")), "{err}");
        assert!(err.contains("^^^^^^^^^"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A build script shows the warnings `network!` shows, one line each
    /// with the spec's place, and not the rows a pooling window drops.
    #[test]
    fn warnings_are_lines_with_the_specs_place() {
        let src = "network tiny(x: [5, 5, 1]) -> [2] {\n    max_pool2d(2)\n    flatten\n    dense(2)\n}\n";
        let (code, warnings) = emit_with_warnings(src, "specs/tiny.nn").unwrap();
        assert!(code.contains("pub struct tiny"));
        assert!(crate::compile(src)
            .unwrap()
            .warnings
            .iter()
            .any(|d| d.code == crate::codes::DROPPED_CELLS));
        assert_eq!(
            warnings,
            ["specs/tiny.nn:1:9: warning[W0002]: network name `tiny` is not UpperCamelCase, the style of Rust type names: the network is a struct (help: call it `Tiny` (in its `train` block too))"]
        );
    }
}
