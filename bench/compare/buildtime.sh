#!/usr/bin/env bash
# Build-time cost of `network!`: times `cargo build` (dev profile, and
# release) of a scratch crate outside the repository with no network, one
# MNIST MLP block, and a 20-layer spec, with every dependency already built,
# by touching src/main.rs and rebuilding. Prints a Markdown table.
#
#   bench/compare/buildtime.sh [REPS] [SCRATCH_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
reps="${1:-5}"
dir="${2:-${TMPDIR:-/tmp}/nnc-buildtime}"
export CARGO_TARGET_DIR="$dir/target"
mkdir -p "$dir"

mk() { # name body
  mkdir -p "$dir/$1/src"
  cat > "$dir/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
nnc = { path = "$repo" }
[workspace]
TOML
  printf '%s\n' "$2" > "$dir/$1/src/main.rs"
}

main_body='fn main() {
    let x = nnc::ndarray::Array2::<f32>::zeros((4, 784));
    println!("{}", x.len());
}'
mk bt_none "$main_body"

# The same program with the network assembled at run time (no `network!`):
# it instantiates the same generic runtime code (trainer, ndarray), so the
# difference to bt_mnist is what the macro and the generated code cost.
mk bt_seq "fn main() {
    use nnc::Model;
    let mut net = nnc::sequential::Sequential::builder(&[784])
        .dense(128, nnc::Activation::Relu)
        .dense(64, nnc::Activation::Relu)
        .dense(10, nnc::Activation::Softmax)
        .build(0)
        .unwrap();
    let x = nnc::ndarray::Array2::<f32>::zeros((4, 784));
    println!(\"{:?}\", net.forward(x.view().into_dyn(), false).unwrap()[[0, 0]]);
    let cfg = nnc::train::TrainConfig { loss: nnc::Loss::SparseCategoricalCrossentropy { from_logits: false }, ..Default::default() };
    let y = nnc::ndarray::ArrayD::<f32>::zeros(vec![4]);
    let mut t = nnc::train::Trainer::new(&cfg);
    println!(\"{}\", t.train_batch(&mut net, x.view().into_dyn(), y.view()).unwrap());
}"

mk bt_mnist "nnc::network! {
    network Mnist(x: [784]) -> [10] {
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }
}
fn main() {
    let mut net = Mnist::new(0);
    let x = nnc::ndarray::Array2::<f32>::zeros((4, 784));
    println!(\"{:?}\", net.predict(x.view()).unwrap()[[0, 0]]);
    let cfg = nnc::train::TrainConfig { loss: nnc::Loss::SparseCategoricalCrossentropy { from_logits: false }, ..Default::default() };
    let y = nnc::ndarray::ArrayD::<f32>::zeros(vec![4]);
    let mut t = nnc::train::Trainer::new(&cfg);
    println!(\"{}\", t.train_batch(&mut net, x.view().into_dyn(), y.view()).unwrap());
}"

layers=$(for i in $(seq 1 19); do echo "        dense(64) relu"; done)
mk bt_deep20 "nnc::network! {
    network Deep(x: [784]) -> [10] {
$layers
        dense(10) softmax
    }
}
fn main() {
    let mut net = Deep::new(0);
    let x = nnc::ndarray::Array2::<f32>::zeros((4, 784));
    println!(\"{:?}\", net.predict(x.view()).unwrap()[[0, 0]]);
    let cfg = nnc::train::TrainConfig { loss: nnc::Loss::SparseCategoricalCrossentropy { from_logits: false }, ..Default::default() };
    let y = nnc::ndarray::ArrayD::<f32>::zeros(vec![4]);
    let mut t = nnc::train::Trainer::new(&cfg);
    println!(\"{}\", t.train_batch(&mut net, x.view().into_dyn(), y.view()).unwrap());
}"

echo "| crate | profile | median s | min s | max s | minus bt_none | minus bt_seq |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for profile in dev dev-nonincremental release; do
  flag=(); [ "$profile" = release ] && flag=(--release)
  if [ "$profile" = dev-nonincremental ]; then export CARGO_INCREMENTAL=0; else unset CARGO_INCREMENTAL; fi
  base="" seqb=""
  for c in bt_none bt_seq bt_mnist bt_deep20; do
    # Warm: dependencies and a first build of the crate itself.
    cargo build -q "${flag[@]}" --manifest-path "$dir/$c/Cargo.toml"
    ts=()
    for _ in $(seq "$reps"); do
      touch "$dir/$c/src/main.rs"
      s=$(date +%s.%N)
      cargo build -q "${flag[@]}" --manifest-path "$dir/$c/Cargo.toml"
      e=$(date +%s.%N)
      ts+=("$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", b - a }')")
    done
    read -r med lo hi < <(printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f %.2f %.2f\n", m, a[1], a[NR]}')
    [ "$c" = bt_none ] && base=$med
    [ "$c" = bt_seq ] && seqb=$med
    printf '| %s | %s | %s | %s | %s | %+.2f | %+.2f |\n' "$c" "$profile" "$med" "$lo" "$hi" \
      "$(awk -v a="$med" -v b="$base" 'BEGIN { print a - b }')" \
      "$(awk -v a="$med" -v b="${seqb:-$med}" 'BEGIN { print a - b }')"
  done
done
