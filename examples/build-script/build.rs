// Compiles every spec in `specs/` into `$OUT_DIR/<name>.rs`. A spec error
// fails the build with the diagnostic rendered (file:line:col and a caret).
fn main() {
    nnc_dsl::build::compile_specs("specs");
}
