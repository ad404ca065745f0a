//! IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed.
//!
//! Format: two zero bytes, a type code, the number of dimensions, then each
//! dimension as a big-endian `u32`, then the data, big-endian, row-major.
//! The data size the header claims is checked against what the file holds,
//! and memory grows only with bytes actually read, so a lying header cannot
//! trigger a huge allocation.

use super::Dataset;
use crate::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Opens `path`, transparently un-gzipping it when it starts with the gzip magic.
pub(crate) fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let stream = head.chain(f);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(stream)))
    } else {
        Ok(Box::new(stream))
    }
}

/// Element type of an IDX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl Kind {
    fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            0x08 => Kind::U8,
            0x09 => Kind::I8,
            0x0B => Kind::I16,
            0x0C => Kind::I32,
            0x0D => Kind::F32,
            0x0E => Kind::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Kind::U8 | Kind::I8 => 1,
            Kind::I16 => 2,
            Kind::I32 | Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Kind::U8 => b[0] as f32,
            Kind::I8 => b[0] as i8 as f32,
            Kind::I16 => i16::from_be_bytes([b[0], b[1]]) as f32,
            Kind::I32 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Kind::F32 => f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            Kind::F64 => {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        }
    }
}

/// Reads an IDX file (gzip or not) into an array of its header's shape,
/// values converted to `f32` unchanged (pixels stay 0..=255).
///
/// # Errors
/// [`Error::Io`], or [`Error::Format`] naming the file for a bad magic
/// number, unknown type, zero dimensions, or a data size that differs from
/// what the header claims.
pub fn read_idx(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let mut r = open_maybe_gz(path)?;
    let io = |e: std::io::Error| Error::io(path, e);
    let (kind, dims) = read_header(&mut r, path)?;
    let expected = dims
        .iter()
        .try_fold(kind.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("dimensions {dims:?} overflow")))?;
    // Read at most one byte more than claimed, growing with the real data only.
    let mut data = Vec::new();
    // `expected` may be as large as usize::MAX (a crafted header): no `+ 1` overflow.
    r.take((expected as u64).saturating_add(1))
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() != expected {
        let more = if data.len() > expected {
            "more than"
        } else {
            "only"
        };
        return Err(Error::format(
            path,
            format!(
                "header says {dims:?} of {}-byte values = {expected} bytes of data, but the file has {more} {} bytes",
                kind.size(),
                data.len()
            ),
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(kind.size())
        .map(|b| kind.decode(b))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| Error::format(path, e.to_string()))
}

/// Reads and checks an IDX header: the element type and the dimensions.
fn read_header(r: &mut dyn Read, path: &Path) -> Result<(Kind, Vec<usize>)> {
    let io = |e: std::io::Error| Error::io(path, e);
    let mut magic = [0u8; 4];
    read_full(r, &mut magic)
        .map_err(io)?
        .then_some(())
        .ok_or_else(|| Error::format(path, "too short for an IDX header (4-byte magic)"))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            path,
            format!(
                "bad magic number 0x{:02x}{:02x}{:02x}{:02x}: not an IDX file",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    let kind = Kind::from_code(magic[2]).ok_or_else(|| {
        Error::format(path, format!("unknown IDX element type 0x{:02x}", magic[2]))
    })?;
    let ndim = magic[3] as usize;
    if ndim == 0 {
        return Err(Error::format(path, "IDX header declares 0 dimensions"));
    }
    let mut dims_raw = vec![0u8; 4 * ndim];
    read_full(r, &mut dims_raw)
        .map_err(io)?
        .then_some(())
        .ok_or_else(|| {
            Error::format(
                path,
                format!("header ends before its {ndim} dimension sizes"),
            )
        })?;
    let dims: Vec<usize> = dims_raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((kind, dims))
}

/// The shape an IDX file's header declares, read without the data: how
/// many rows there are to split across ranks before [`read_idx_rows`].
///
/// # Errors
/// [`Error::Io`], or [`Error::Format`] for a bad header.
pub fn idx_shape(path: impl AsRef<Path>) -> Result<Vec<usize>> {
    let path = path.as_ref();
    let mut r = open_maybe_gz(path)?;
    Ok(read_header(&mut r, path)?.1)
}

/// Reads rows `rows` (along the first axis) of an IDX file, and nothing
/// else into memory: one rank's part of a data set too large for each
/// machine to hold whole (see [`crate::dist::DataLayout::Sharded`] and
/// [`crate::dist::split_rows`]). A plain file is read from the first row
/// wanted on (a seek); a gzip file has to be decompressed from its start,
/// but only the rows wanted are kept.
///
/// # Errors
/// As [`read_idx`], and [`Error::Format`] if `rows` ends past the rows the
/// header declares or the file holds.
pub fn read_idx_rows(path: impl AsRef<Path>, rows: std::ops::Range<usize>) -> Result<ArrayD<f32>> {
    use std::io::{Seek, SeekFrom};
    let path = path.as_ref();
    let io = |e: std::io::Error| Error::io(path, e);
    let mut r = open_maybe_gz(path)?;
    let (kind, mut dims) = read_header(&mut r, path)?;
    if rows.end > dims[0] || rows.start > rows.end {
        return Err(Error::format(
            path,
            format!(
                "rows {}..{} asked of a file of {} rows",
                rows.start, rows.end, dims[0]
            ),
        ));
    }
    let row_bytes = dims[1..]
        .iter()
        .try_fold(kind.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("dimensions {dims:?} overflow")))?;
    let header = 4 + 4 * dims.len() as u64;
    let skip = (rows.start as u64).saturating_mul(row_bytes as u64);
    let want = (rows.len() as u64).saturating_mul(row_bytes as u64);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let gz = read_full(&mut f, &mut magic).map_err(io)? && magic == [0x1f, 0x8b];
    let mut data = Vec::new();
    if gz {
        let skipped = std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink()).map_err(io)?;
        if skipped == skip {
            r.take(want).read_to_end(&mut data).map_err(io)?;
        }
    } else {
        let len = f.metadata().map_err(io)?.len();
        let claimed = (dims[0] as u64).saturating_mul(row_bytes as u64);
        if len.saturating_sub(header) != claimed {
            return Err(Error::format(
                path,
                format!(
                    "header says {dims:?} of {}-byte values = {claimed} bytes of data, but the file has {} bytes",
                    kind.size(),
                    len.saturating_sub(header)
                ),
            ));
        }
        f.seek(SeekFrom::Start(header + skip)).map_err(io)?;
        f.take(want).read_to_end(&mut data).map_err(io)?;
    }
    if data.len() as u64 != want {
        return Err(Error::format(
            path,
            format!(
                "the file ends before rows {}..{} of the {:?} its header declares",
                rows.start, rows.end, dims
            ),
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(kind.size())
        .map(|b| kind.decode(b))
        .collect();
    dims[0] = rows.len();
    ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| Error::format(path, e.to_string()))
}

/// Fills `buf` completely; `Ok(false)` if the stream ends first.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads an image file and its label file into a [`Dataset`]: `x` is
/// `[n, rows, cols]` scaled to `[0, 1]` (divided by 255), `y` is `[n]` class indices.
///
/// # Errors
/// As [`read_idx`], plus [`Error::Format`] if the label file is not 1-D,
/// the counts differ, or a label is not below `classes`.
pub fn read_images_and_labels(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    classes: usize,
) -> Result<Dataset> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    labelled(
        images,
        read_idx(images)?,
        labels,
        read_idx(labels)?,
        classes,
    )
}

/// [`read_images_and_labels`] for rows `rows` only, read as
/// [`read_idx_rows`] reads them: one rank's part of a data set.
///
/// # Errors
/// As [`read_images_and_labels`] and [`read_idx_rows`].
pub fn read_images_and_labels_rows(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    classes: usize,
    rows: std::ops::Range<usize>,
) -> Result<Dataset> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let x = read_idx_rows(images, rows.clone())?;
    let y = read_idx_rows(labels, rows)?;
    labelled(images, x, labels, y, classes)
}

/// Checks images and labels against each other and scales the pixels.
fn labelled(
    images: &Path,
    mut x: ArrayD<f32>,
    labels: &Path,
    y: ArrayD<f32>,
    classes: usize,
) -> Result<Dataset> {
    if y.ndim() != 1 {
        return Err(Error::format(
            labels,
            format!("labels must be 1-D, the header says {:?}", y.shape()),
        ));
    }
    if x.shape()[0] != y.len() {
        return Err(Error::format(
            labels,
            format!(
                "{} labels for {} images in {}",
                y.len(),
                x.shape()[0],
                images.display()
            ),
        ));
    }
    if let Some((i, &v)) = y
        .iter()
        .enumerate()
        .find(|(_, &v)| v < 0.0 || v >= classes as f32 || v.fract() != 0.0)
    {
        return Err(Error::format(
            labels,
            format!("label {v} at index {i} is not a class in 0..{classes}"),
        ));
    }
    x.mapv_inplace(|v| v / 255.0);
    Dataset::new(x, y)
}

/// Loads MNIST or Fashion-MNIST from a folder holding the four standard
/// files (`train-images-idx3-ubyte[.gz]`, ...): `(train, test)`, 60 000 and 10 000 samples.
///
/// # Errors
/// [`Error::Io`] naming the first missing file, or any error of [`read_images_and_labels`].
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    let find = |stem: &str| -> PathBuf {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() {
            gz
        } else {
            dir.join(stem)
        }
    };
    let train = read_images_and_labels(
        find("train-images-idx3-ubyte"),
        find("train-labels-idx1-ubyte"),
        10,
    )?;
    let test = read_images_and_labels(
        find("t10k-images-idx3-ubyte"),
        find("t10k-labels-idx1-ubyte"),
        10,
    )?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nnc-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn idx(code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_plain_and_gzip_and_every_type() {
        let img = idx(0x08, &[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
        let a = read_idx(tmp("a.idx", &img)).unwrap();
        assert_eq!(a.shape(), &[2, 2, 3]);
        assert_eq!(a[[1, 1, 2]], 255.0);
        assert_eq!(read_idx(tmp("a.idx.gz", &gz(&img))).unwrap(), a);
        let f = idx(
            0x0D,
            &[2],
            &[&1.5f32.to_be_bytes()[..], &(-2.0f32).to_be_bytes()[..]].concat(),
        );
        assert_eq!(
            read_idx(tmp("f.idx", &f)).unwrap().as_slice().unwrap(),
            &[1.5, -2.0]
        );
        let i16s = idx(0x0B, &[1], &(-300i16).to_be_bytes());
        assert_eq!(read_idx(tmp("s.idx", &i16s)).unwrap()[[0]], -300.0);
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("short", vec![0, 0], "too short"),
            (
                "magic",
                vec![1, 2, 8, 1, 0, 0, 0, 1, 0],
                "bad magic number 0x01020801",
            ),
            (
                "type",
                idx(0x07, &[1], &[0]),
                "unknown IDX element type 0x07",
            ),
            ("nodims", vec![0, 0, 8, 0], "0 dimensions"),
            (
                "dims",
                vec![0, 0, 8, 3, 0, 0, 0, 1],
                "ends before its 3 dimension sizes",
            ),
            (
                "fewer",
                idx(0x08, &[3, 2], &[1, 2, 3]),
                "= 6 bytes of data, but the file has only 3 bytes",
            ),
            ("more", idx(0x08, &[1], &[1, 2]), "more than"),
            // A header claiming 4 GiB in a 20-byte file: an error, not a 4 GiB allocation.
            (
                "liar",
                idx(0x08, &[65535, 65535], &[1, 2, 3]),
                "file has only 3 bytes",
            ),
        ];
        for (name, bytes, want) in cases {
            let p = tmp(name, &bytes);
            let err = read_idx(&p).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains(name), "{name}: {err}");
        }
        assert!(matches!(read_idx(tmp("x", b"")), Err(Error::Format { .. })));
        assert!(matches!(
            read_idx("/nonexistent/nnc.idx"),
            Err(Error::Io { .. })
        ));
        // A corrupted gzip stream is an error too.
        let mut bad = gz(&idx(0x08, &[4], &[1, 2, 3, 4]));
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        bad.truncate(bad.len() - 4);
        assert!(read_idx(tmp("bad.gz", &bad)).is_err());
    }

    #[test]
    fn images_and_labels_are_checked_together() {
        let imgs = tmp("imgs", &idx(0x08, &[2, 1, 2], &[0, 255, 51, 102]));
        let labels = tmp("labels", &idx(0x08, &[2], &[3, 1]));
        let d = read_images_and_labels(&imgs, &labels, 10).unwrap();
        assert_eq!(d.x.as_slice().unwrap(), &[0.0, 1.0, 0.2, 0.4]);
        assert_eq!(d.y.as_slice().unwrap(), &[3.0, 1.0]);
        let three = tmp("three", &idx(0x08, &[3], &[0, 1, 2]));
        assert!(read_images_and_labels(&imgs, &three, 10)
            .unwrap_err()
            .to_string()
            .contains("3 labels for 2 images"));
        let big = tmp("big", &idx(0x08, &[2], &[0, 12]));
        assert!(read_images_and_labels(&imgs, &big, 10)
            .unwrap_err()
            .to_string()
            .contains("label 12 at index 1"));
    }

    /// The real MNIST test split, bundled in `data/mnist` (missing is a failure).
    #[test]
    fn real_mnist_test_split() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
        let images = dir.join("t10k-images-idx3-ubyte.gz");
        assert!(images.exists(), "{} not found", images.display());
        let d = read_images_and_labels(images, dir.join("t10k-labels-idx1-ubyte.gz"), 10).unwrap();
        assert_eq!(d.x.shape(), &[10_000, 28, 28]);
        assert_eq!(d.y.len(), 10_000);
        // The first test digit is a 7.
        assert_eq!(d.y[[0]], 7.0);
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    /// Rows of a plain and of a gzip file: the same values as the whole
    /// file's, sliced; ranges past the end and truncated files are errors.
    #[test]
    fn rows_of_plain_and_gzip_files() {
        let data: Vec<u8> = (0..5 * 2 * 3).map(|v| v as u8).collect();
        let bytes = idx(0x08, &[5, 2, 3], &data);
        let plain = tmp("rows-plain", &bytes);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let zipped = tmp("rows-gz", &gz.finish().unwrap());
        let whole = read_idx(&plain).unwrap();
        for path in [&plain, &zipped] {
            assert_eq!(idx_shape(path).unwrap(), [5, 2, 3]);
            for rows in [0..5, 1..3, 4..5, 2..2] {
                let part = read_idx_rows(path, rows.clone()).unwrap();
                assert_eq!(part.shape(), &[rows.len(), 2, 3]);
                let want = whole.slice_axis(ndarray::Axis(0), ndarray::Slice::from(rows));
                assert_eq!(part.view(), want);
            }
            let err = read_idx_rows(path, 3..6).unwrap_err().to_string();
            assert!(err.contains("rows 3..6") && err.contains("5 rows"), "{err}");
        }
        let short = tmp("rows-short", &bytes[..bytes.len() - 1]);
        assert!(read_idx_rows(&short, 0..1)
            .unwrap_err()
            .to_string()
            .contains("header says"));
        // The real labels: a part of the gzip file is the same part of the whole.
        let labels =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist/t10k-labels-idx1-ubyte.gz");
        let all = read_idx(&labels).unwrap();
        let part = read_idx_rows(&labels, 5000..5010).unwrap();
        assert_eq!(
            part.as_slice().unwrap(),
            &all.as_slice().unwrap()[5000..5010]
        );
    }
}
