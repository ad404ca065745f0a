//! Loaders shared by the examples on scikit-learn's 8×8 digits. Each example
//! includes this file as a module; not every example uses every item.
#![allow(dead_code)]

use nnc::data::csv::{read_csv, CsvOptions};
use nnc::Dataset;
use std::path::{Path, PathBuf};

/// The bundled digits file.
pub fn default_digits() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sklearn/digits.csv.gz"
    ))
}

/// Checks the bundled files of `path`'s folder against `data/MD5SUMS`
/// (a file of your own, outside `data/`, is taken as it is).
pub fn verify(path: &Path) -> nnc::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    nnc::data::verify_checksums(dir)
}

/// Reads the digits: a CSV without header, 64 pixel values 0-16 then the
/// digit. Returns `x` as `[n, 64]` scaled to [0, 1] and `y` as `[n]` digits.
pub fn load_digits(path: &Path) -> Result<Dataset, Box<dyn std::error::Error>> {
    verify(path)?;
    let d = read_csv(
        path,
        &CsvOptions {
            header: false,
            ..CsvOptions::default()
        },
    )?;
    if d.x.shape()[1] != 64 {
        return Err(format!(
            "{}: expected 64 pixel columns and a label, found {} columns",
            path.display(),
            d.x.shape()[1] + 1
        )
        .into());
    }
    if let Some(bad) =
        d.y.iter()
            .find(|&&v| !(0.0..=9.0).contains(&v) || v.fract() != 0.0)
    {
        return Err(format!("{}: label {bad} is not a digit 0-9", path.display()).into());
    }
    // `read_csv` gives column-major features, which the scalers refuse: copy
    // to row-major once here.
    let x = d.x.as_standard_layout().mapv(|v| v / 16.0);
    Ok(Dataset::new(x, d.y)?)
}

/// The samples whose digit is in `digits`, with `relabel` applied to the digit.
pub fn filter(
    d: &Dataset,
    digits: std::ops::RangeInclusive<u8>,
    relabel: impl Fn(f32) -> f32,
) -> Dataset {
    let keep: Vec<usize> = (0..d.len())
        .filter(|&i| digits.contains(&(d.y[[i]] as u8)))
        .collect();
    let mut out = d.select(&keep);
    out.y.mapv_inplace(relabel);
    out
}

/// Reports an error with its `Display` text (a sentence, not a debug dump)
/// and the exit status.
pub fn exit_code<T>(r: Result<T, Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match r {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Mean and (population) standard deviation.
pub fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f32;
    let m = v.iter().sum::<f32>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / n).sqrt(),
    )
}
