//! Delimited text files (CSV, TSV, whitespace-separated), plain or gzip.
//!
//! A deliberately small reader for numeric tables: one record per line,
//! optional header, optional surrounding quotes on a cell. Every cell must
//! parse as a number; errors name the file, the line and the column.

use super::idx::open_maybe_gz;
use super::Dataset;
use crate::{Error, Result};
use ndarray::{Array1, Array2, Axis};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How cells are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// One given byte, e.g. `b','` or `b'\t'`.
    Char(u8),
    /// Any run of spaces or tabs.
    Whitespace,
}

/// A column, by position or by header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Name in the header line.
    Name(String),
    /// The last column.
    Last,
}

/// How to read a table into a [`Dataset`].
///
/// The defaults read a comma-separated file with a header line and the
/// target in the last column. The files bundled in the repository's
/// `data/` need these settings:
///
/// | file | options |
/// | --- | --- |
/// | `sklearn/iris.csv`, `wine_data.csv`, `breast_cancer.csv` | `header: false, skip_lines: 1` (the first line is `rows,features,class names...`, not column names); the class index is last |
/// | `sklearn/digits.csv.gz` (gzip is read as is) | `header: false`; 64 pixels 0-16, the digit last |
/// | `sklearn/diabetes_data_raw.csv.gz` with `diabetes_target.csv.gz` | [`read_table`] each with [`Delimiter::Whitespace`], no header: features and target are separate files |
/// | `sklearn/linnerud_exercise.csv`, `linnerud_physiological.csv` | `delimiter: Delimiter::Whitespace` (a header line of names) |
/// | `boston-housing/train.csv`, `test.csv`, `housing.csv` | the defaults: header `CRIM,...,LSTAT,MEDV`, the price last |
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::data::csv::{read_csv, Column, CsvOptions};
///
/// let path = "data/sklearn/iris.csv";
/// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sklearn/iris.csv");
/// let opts = CsvOptions { header: false, skip_lines: 1, ..Default::default() };
/// let iris = read_csv(path, &opts)?;
/// assert_eq!(iris.x.shape(), &[150, 4]);
/// assert_eq!(iris.y.shape(), &[150]); // one target column: [n], class indices 0, 1, 2
///
/// // Targets by header name, several at once: y is [n, k].
/// let path = "data/boston-housing/train.csv";
/// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/boston-housing/train.csv");
/// let opts = CsvOptions {
///     targets: vec![Column::Name("MEDV".into()), Column::Name("LSTAT".into())],
///     ..Default::default()
/// };
/// let boston = read_csv(path, &opts)?;
/// assert_eq!((boston.x.shape(), boston.y.shape()), (&[404, 12][..], &[404, 2][..]));
/// # Ok::<(), nnc::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Cell separator (default `,`).
    pub delimiter: Delimiter,
    /// Whether the first (non-skipped) line is a header (default true).
    pub header: bool,
    /// Lines to skip before the header or data (default 0).
    pub skip_lines: usize,
    /// The target columns; every other column is a feature (default: the last column).
    pub targets: Vec<Column>,
    /// Accept `NaN` and `inf` cells (default false: they are errors, since
    /// training on them only fails later with a misleading message).
    pub allow_non_finite: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: Delimiter::Char(b','),
            header: true,
            skip_lines: 0,
            targets: vec![Column::Last],
            allow_non_finite: false,
        }
    }
}

/// A numeric table: the header's names (or `column 1`, `column 2`, ...) and the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, `[rows, columns]`.
    pub values: Array2<f32>,
}

/// The cells of a line with the 1-based character column each starts at.
fn split(line: &str, d: Delimiter) -> Vec<(usize, &str)> {
    let cells: Vec<(usize, &str)> = match d {
        Delimiter::Char(c) => {
            let mut at = 0;
            line.split(c as char)
                .map(|cell| {
                    let start = at;
                    at += cell.len() + 1;
                    (start, cell)
                })
                .collect()
        }
        Delimiter::Whitespace => line
            .split([' ', '\t'])
            .scan(0usize, |at, cell| {
                let start = *at;
                *at += cell.len() + 1;
                Some((start, cell))
            })
            .filter(|(_, cell)| !cell.is_empty())
            .collect(),
    };
    cells
        .into_iter()
        .map(|(start, c)| {
            let lead = c.len() - c.trim_start().len();
            let c = c.trim();
            let (quote, c) = match c.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
                Some(inner) => (1, inner),
                None => (0, c),
            };
            let byte = start + lead + quote;
            (line[..byte].chars().count() + 1, c)
        })
        .collect()
}

/// Reads a whole numeric table. Every value must be finite: `NaN`, `inf`
/// and numbers too large for `f32` (`1e39`) are errors
/// ([`read_table_with`] can allow the non-finite ones).
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming file, line and column for a
/// ragged row or a non-numeric or non-finite cell; [`Error::Format`] for a
/// file without data rows.
pub fn read_table(
    path: impl AsRef<Path>,
    delimiter: Delimiter,
    header: bool,
    skip_lines: usize,
) -> Result<Table> {
    let opts = CsvOptions {
        delimiter,
        header,
        skip_lines,
        ..CsvOptions::default()
    };
    read_table_with(path, &opts)
}

/// Reads a whole numeric table as `opts` says (its `targets` are not used).
/// A UTF-8 byte-order mark at the start of the file is skipped.
///
/// # Errors
/// As [`read_table`].
pub fn read_table_with(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Table> {
    let path = path.as_ref();
    let reader = BufReader::new(open_maybe_gz(path)?);
    let mut columns: Option<Vec<String>> = None;
    let mut values: Vec<f32> = Vec::new();
    let mut rows = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let lineno = i + 1;
        let line = line.map_err(|e| Error::io(path, e))?;
        let mut line = line.trim_end_matches('\r');
        if i == 0 {
            // Spreadsheet programs write one; it is not part of the first cell.
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if i < opts.skip_lines || line.trim().is_empty() {
            continue;
        }
        let cells = split(line, opts.delimiter);
        let Some(names) = &columns else {
            if opts.header {
                columns = Some(cells.iter().map(|(_, c)| c.to_string()).collect());
                continue;
            }
            columns = Some((1..=cells.len()).map(|k| format!("column {k}")).collect());
            push_row(
                path,
                lineno,
                &cells,
                columns.as_deref().unwrap_or(&[]),
                opts.allow_non_finite,
                &mut values,
            )?;
            rows += 1;
            continue;
        };
        push_row(
            path,
            lineno,
            &cells,
            names,
            opts.allow_non_finite,
            &mut values,
        )?;
        rows += 1;
    }
    let columns = columns.unwrap_or_default();
    if rows == 0 {
        return Err(Error::format(path, "no data rows"));
    }
    let values = Array2::from_shape_vec((rows, columns.len()), values)
        .map_err(|e| Error::format(path, e.to_string()))?;
    Ok(Table { columns, values })
}

fn push_row(
    path: &Path,
    row: usize,
    cells: &[(usize, &str)],
    names: &[String],
    allow_non_finite: bool,
    out: &mut Vec<f32>,
) -> Result<()> {
    if cells.len() != names.len() {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            row,
            column: 0,
            field: "*".into(),
            message: format!(
                "expected {} fields (as the first row), found {}",
                names.len(),
                cells.len()
            ),
        });
    }
    for (&(column, cell), name) in cells.iter().zip(names) {
        let error = |message: String| Error::Parse {
            path: path.to_path_buf(),
            row,
            column,
            field: format!("`{name}`"),
            message,
        };
        let v: f32 = cell
            .parse()
            .map_err(|_| error(format!("`{cell}` is not a number")))?;
        if !v.is_finite() {
            // `1e39` becomes infinity as an f32: never what the file meant.
            let written = cell.trim_start_matches(['+', '-']).to_ascii_lowercase();
            let literal = written.starts_with("nan") || written.starts_with("inf");
            if !literal {
                return Err(error(format!(
                    "`{cell}` is too large for a 32-bit float (at most about 3.4e38)"
                )));
            }
            if !allow_non_finite {
                return Err(error(format!(
                    "`{cell}` is not a finite number; fill in or drop missing values, or set `allow_non_finite` in CsvOptions"
                )));
            }
        }
        out.push(v);
    }
    Ok(())
}

/// Reads a table and splits it into features and targets as `opts` says.
/// `x` is `[n, features]`; `y` is `[n]` for one target column, `[n, k]` for k.
/// Targets `[n]` suit class indices (`sparse_categorical_crossentropy`) and a
/// one-unit output alike: a network ending in `dense(1)` trains on them as
/// they are. [`CsvOptions`] lists the options for the bundled files.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::data::csv::{read_csv, CsvOptions};
///
/// // A regression file: two features, the target last.
/// let path = std::env::temp_dir().join(format!("line-{}.csv", std::process::id()));
/// std::fs::write(&path, "x1,x2,y\n0.0,1.0,0.5\n1.0,0.0,2.5\n0.5,0.5,1.5\n")?;
/// let data = read_csv(&path, &CsvOptions::default())?;
/// assert_eq!(data.x.shape(), &[3, 2]);
/// assert_eq!(data.y.as_slice().unwrap(), &[0.5, 2.5, 1.5]);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`read_table`], plus [`Error::Format`] for a target column that does
/// not exist or a table with no feature column left.
pub fn read_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let table = read_table_with(path, opts)?;
    let ncols = table.columns.len();
    let mut targets = Vec::new();
    for t in &opts.targets {
        let k = match t {
            Column::Index(k) if *k < ncols => *k,
            Column::Last if ncols > 0 => ncols - 1,
            Column::Name(n) => table.columns.iter().position(|c| c == n).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "no column named `{n}`; the header has: {}",
                        table.columns.join(", ")
                    ),
                )
            })?,
            _ => {
                return Err(Error::format(
                    path,
                    format!("target column {t:?} does not exist in a table of {ncols} columns"),
                ))
            }
        };
        if !targets.contains(&k) {
            targets.push(k);
        }
    }
    let features: Vec<usize> = (0..ncols).filter(|k| !targets.contains(k)).collect();
    if features.is_empty() || targets.is_empty() {
        return Err(Error::format(
            path,
            "need at least one feature column and one target column",
        ));
    }
    let x = table.values.select(Axis(1), &features).into_dyn();
    let y = if targets.len() == 1 {
        Array1::from_iter(table.values.column(targets[0]).iter().copied()).into_dyn()
    } else {
        table.values.select(Axis(1), &targets).into_dyn()
    };
    Dataset::new(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nnc-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_header_targets_and_delimiters() {
        let p = tmp("a.csv", "a,b,\"c\"\r\n1,2,3\n\n4,5.5,-6e-1\n");
        let d = read_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(d.x.shape(), &[2, 2]);
        assert_eq!(d.y.as_slice().unwrap(), &[3.0, -0.6]);
        let by_name = CsvOptions {
            targets: vec![Column::Name("a".into()), Column::Index(1)],
            ..CsvOptions::default()
        };
        let d = read_csv(&p, &by_name).unwrap();
        assert_eq!(d.y.shape(), &[2, 2]);
        assert_eq!(d.x.as_slice().unwrap(), &[3.0, -0.6]);
        let ws = tmp("w.txt", "x y\n1  2\n3\t4\n");
        let opts = CsvOptions {
            delimiter: Delimiter::Whitespace,
            ..CsvOptions::default()
        };
        assert_eq!(
            read_csv(&ws, &opts).unwrap().y.as_slice().unwrap(),
            &[2.0, 4.0]
        );
        let t = read_table(tmp("n.csv", "1;2\n3;4\n"), Delimiter::Char(b';'), false, 0).unwrap();
        assert_eq!(t.columns, ["column 1", "column 2"]);
        assert_eq!(t.values[[1, 0]], 3.0);
    }

    #[test]
    fn malformed_files_name_file_row_and_field() {
        let ragged = tmp("ragged.csv", "a,b\n1,2\n3\n");
        let err = read_csv(&ragged, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ragged.csv:3")
                && err.contains("expected 2 fields (as the first row), found 1"),
            "{err}"
        );
        let text = tmp("text.csv", "a,b\n1,2\n3,abc\n");
        let err = read_csv(&text, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("text.csv:3:3: field `b`: `abc` is not a number"),
            "{err}"
        );
        let empty = tmp("empty.csv", "a,b\n");
        assert!(read_csv(&empty, &CsvOptions::default())
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
        let nocol = CsvOptions {
            targets: vec![Column::Name("zzz".into())],
            ..CsvOptions::default()
        };
        let err = read_csv(tmp("ok.csv", "a,b\n1,2\n"), &nocol)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column named `zzz`; the header has: a, b"),
            "{err}"
        );
        let one = tmp("one.csv", "a\n1\n");
        assert!(read_csv(&one, &CsvOptions::default()).is_err());
        assert!(matches!(
            read_csv("/nonexistent/x.csv", &CsvOptions::default()),
            Err(Error::Io { .. })
        ));
    }

    /// The real sklearn and Boston files, bundled in `data/` (missing is a failure).
    #[test]
    fn real_small_datasets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        assert!(
            dir.join("sklearn/iris.csv").exists(),
            "{} has no sklearn/iris.csv",
            dir.display()
        );
        // iris' first line is "150,4,setosa,..." (metadata), read as a header.
        let iris = read_csv(dir.join("sklearn/iris.csv"), &CsvOptions::default()).unwrap();
        assert_eq!(iris.x.shape(), &[150, 4]);
        let digits = CsvOptions {
            header: false,
            ..CsvOptions::default()
        };
        let d = read_csv(dir.join("sklearn/digits.csv.gz"), &digits).unwrap();
        assert_eq!(d.x.shape(), &[1797, 64]);
        let boston =
            read_csv(dir.join("boston-housing/train.csv"), &CsvOptions::default()).unwrap();
        assert_eq!(boston.x.shape(), &[404, 13]);
        assert_eq!(boston.y[[0]], 15.2);
    }
}
