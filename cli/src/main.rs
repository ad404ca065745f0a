//! `nnc`: check, summarise and emit network specs, and export trained
//! networks to ONNX, from the command line.
//!
//! Each subcommand is a thin front over `nnc-dsl` (and `nnc-onnx`): read
//! the files, call the library, print. Exit status: 0 when every spec is sound, 1 when any has an
//! error (or cannot be read), 2 for a usage error (from clap).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use nnc_dsl::diag::escape_invisible;
use nnc_dsl::{ir, Diagnostic, Severity};

#[derive(Parser)]
#[command(name = "nnc", version, about = "The nnc neural-network compiler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs: syntax, names, arguments, shapes and losses.
    Check {
        /// Spec files (`.nn`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics: rendered on stderr, or JSON lines on stdout.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a table of each network's layers, shapes and parameter counts.
    Summary {
        /// Spec files (`.nn`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the Rust code generated for a spec (what `network!` and build
    /// scripts compile), formatted.
    Emit {
        /// Spec file (`.nn`).
        file: PathBuf,
        /// Write the code to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write a trained network as an ONNX model (opset 17), from its spec
    /// and its weights (safetensors, as `nnc::io::save_weights` writes them).
    ExportOnnx {
        /// Spec file (`.nn`).
        spec: PathBuf,
        /// Weights file (`.safetensors`); tensors other than the network's
        /// parameters (optimizer state, scalers) are ignored.
        weights: PathBuf,
        /// The ONNX file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Which network of the spec (needed when it has several).
        #[arg(long)]
        network: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// rustc-style text with the source line and carets.
    Human,
    /// One JSON object per diagnostic per line, for editors.
    Json,
}

/// A spec file read from disk.
struct Spec {
    path: String,
    /// The text; invalid UTF-8 is replaced so diagnostics can still show it.
    src: String,
}

/// Reads a spec, turning unreadable files and invalid UTF-8 into errors
/// instead of panics.
fn load(path: &Path) -> Result<Spec, (Spec, Vec<Diagnostic>)> {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let spec = Spec {
                path: name,
                src: String::new(),
            };
            return Err((spec, vec![read_error(&e)]));
        }
    };
    match nnc_dsl::decode(&bytes) {
        Ok(src) => Ok(Spec {
            path: name,
            src: src.to_string(),
        }),
        Err(d) => Err((
            Spec {
                path: name,
                src: String::from_utf8_lossy(&bytes).into_owned(),
            },
            d,
        )),
    }
}

fn read_error(e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(
        "E0000",
        format!("cannot read the file: {e}"),
        nnc_dsl::Span::new(0, 0),
        "",
    )
}

/// Loads and compiles one spec.
fn compile(path: &Path) -> Result<(Spec, ir::Program), (Spec, Vec<Diagnostic>)> {
    let spec = load(path)?;
    match nnc_dsl::compile(&spec.src) {
        Ok(p) => Ok((spec, p)),
        Err(d) => Err((spec, d)),
    }
}

fn report(spec: &Spec, diags: &[Diagnostic], format: Format) {
    match format {
        Format::Human => {
            let text = if diags.iter().any(|d| d.code == nnc_dsl::codes::READ) {
                diags
                    .iter()
                    .map(|d| format!("error: {}: {}\n", spec.path, d.message))
                    .collect()
            } else {
                nnc_dsl::render(diags, &spec.path, &spec.src)
            };
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        Format::Json => {
            let mut out = std::io::stdout().lock();
            for d in diags {
                let _ = writeln!(out, "{}", json(spec, d));
            }
        }
    }
}

fn json(spec: &Spec, d: &Diagnostic) -> serde_json::Value {
    let (line, column) = nnc_dsl::line_col(&spec.src, d.span.start);
    let (end_line, end_column) = nnc_dsl::line_col(&spec.src, d.span.end);
    serde_json::json!({
        "code": d.code,
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": escape_invisible(&d.message),
        "file": spec.path,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "label": escape_invisible(&d.label),
        "help": d.help.as_deref().map(escape_invisible),
    })
}

/// `good.nn: ok, 1 network (Tiny: [2] -> [2], 17 parameters)`.
fn sound_line(path: &str, program: &ir::Program) -> String {
    let nets: Vec<String> = program
        .networks
        .iter()
        .map(|n| {
            let params = nnc_dsl::lower::lower(n).param_count();
            format!(
                "{}: {:?} -> {:?}, {params} parameters",
                n.name, n.input.shape, n.output
            )
        })
        .collect();
    let count = program.networks.len();
    let plural = if count == 1 { "" } else { "s" };
    let warnings = match program.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        w => format!(", {w} warnings"),
    };
    format!(
        "{path}: ok, {count} network{plural}{warnings} ({})",
        nets.join("; ")
    )
}

/// The parameters `graph` reads, from a safetensors file.
fn read_weights(path: &Path, graph: &nnc_dsl::graph::Graph) -> Result<nnc_onnx::Weights, String> {
    let file = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: {e}"))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("{file}: not a safetensors file ({e})"))?;
    let mut weights = nnc_onnx::Weights::new();
    let mut missing = Vec::new();
    for name in graph.params() {
        let Ok(t) = st.tensor(name) else {
            missing.push(format!("`{name}`"));
            continue;
        };
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(format!(
                "{file}: tensor `{name}` has dtype {:?}, expected F32",
                t.dtype()
            ));
        }
        let data = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        weights.insert(
            name.to_string(),
            nnc_onnx::Tensor::new(t.shape().to_vec(), data),
        );
    }
    if !missing.is_empty() {
        return Err(format!(
            "{file} does not have the parameters {} of network `{}`",
            missing.join(", "),
            graph.name
        ));
    }
    Ok(weights)
}

/// `nnc export-onnx`: compiles the spec (no Rust code is generated),
/// reads the weights and writes the model.
fn export_onnx(
    spec_path: &Path,
    weights_path: &Path,
    output: &Path,
    network: Option<&str>,
) -> bool {
    let (spec, program) = match compile(spec_path) {
        Ok(c) => c,
        Err((spec, diags)) => {
            report(&spec, &diags, Format::Human);
            return false;
        }
    };
    report(&spec, &program.warnings, Format::Human);
    let names: Vec<&str> = program.networks.iter().map(|n| n.name.as_str()).collect();
    let net = match (network, program.networks.as_slice()) {
        (None, [only]) => only,
        (None, _) => {
            eprintln!(
                "error: {} has {} networks ({}); choose one with --network",
                spec.path,
                names.len(),
                names.join(", ")
            );
            return false;
        }
        (Some(want), nets) => match nets.iter().find(|n| n.name == want) {
            Some(n) => n,
            None => {
                eprintln!(
                    "error: {} has no network `{want}`; it has {}",
                    spec.path,
                    names.join(", ")
                );
                return false;
            }
        },
    };
    let graph = nnc_dsl::graph::graph(net);
    let written = read_weights(weights_path, &graph)
        .and_then(|w| nnc_onnx::to_bytes(&graph, &w).map_err(|e| e.to_string()))
        .and_then(|bytes| {
            std::fs::write(output, bytes).map_err(|e| format!("{}: {e}", output.display()))
        });
    match written {
        Ok(()) => {
            println!(
                "{}: network `{}` written as ONNX (opset {})",
                output.display(),
                net.name,
                nnc_onnx::OPSET
            );
            true
        }
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut ok = true;
    match cli.command {
        Command::Check { files, format } => {
            for path in &files {
                match compile(path) {
                    // Warnings are printed but do not fail the check.
                    Ok((spec, program)) => {
                        report(&spec, &program.warnings, format);
                        if format == Format::Human {
                            // One line, so a sound spec says so instead of nothing.
                            println!("{}", sound_line(&spec.path, &program));
                        }
                    }
                    Err((spec, diags)) => {
                        ok = false;
                        report(&spec, &diags, format);
                    }
                }
            }
        }
        Command::Summary { files } => {
            let mut out = std::io::stdout().lock();
            for path in &files {
                match compile(path) {
                    Ok((spec, program)) => {
                        report(&spec, &program.warnings, Format::Human);
                        for net in &program.networks {
                            let _ = writeln!(out, "{}\n", nnc_dsl::summary::summary(net));
                        }
                    }
                    Err((spec, diags)) => {
                        ok = false;
                        report(&spec, &diags, Format::Human);
                    }
                }
            }
        }
        Command::Emit { file, output } => {
            match compile(&file) {
                Ok((spec, program)) => {
                    report(&spec, &program.warnings, Format::Human);
                    match nnc_dsl::emit::format(nnc_dsl::emit::emit_program(&program)) {
                        Ok(code) => {
                            let written = match &output {
                                Some(out) => std::fs::write(out, &code),
                                None => std::io::stdout().lock().write_all(code.as_bytes()),
                            };
                            if let Err(e) = written {
                                eprintln!("error: cannot write the code: {e}");
                                ok = false;
                            }
                        }
                        Err(e) => {
                            eprintln!("error: {}: generated code does not parse ({e}); this is a bug in nnc", spec.path);
                            ok = false;
                        }
                    }
                }
                Err((spec, diags)) => {
                    ok = false;
                    report(&spec, &diags, Format::Human);
                }
            }
        }
        Command::ExportOnnx {
            spec,
            weights,
            output,
            network,
        } => ok = export_onnx(&spec, &weights, &output, network.as_deref()),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
