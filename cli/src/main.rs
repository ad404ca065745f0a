//! `nnc`: check, summarise and emit network specs from the command line.

fn main() {
    eprintln!("nnc: no commands yet");
    std::process::exit(2);
}
