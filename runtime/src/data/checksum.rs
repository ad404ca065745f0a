//! Checks data files against an `MD5SUMS` list (the `md5sum` format), so a
//! truncated download or an edited file is reported before training on it.

use crate::{Error, Result};
use md5::{Digest, Md5};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Finds the `MD5SUMS` file that covers `dir`: in `dir` itself or one of its
/// two nearest ancestors (the project keeps one for all of `data/`).
fn find_list(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().take(3).map(|d| d.join("MD5SUMS")).find(|p| p.is_file())
}

/// The MD5 of a file, as lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Verifies every file of `dir` that the covering `MD5SUMS` lists. A folder
/// with no `MD5SUMS` nearby (your own data) is accepted as it is.
///
/// # Errors
/// [`Error::Io`] naming a listed file that is missing or unreadable,
/// [`Error::Format`] naming a file whose checksum differs (with both sums).
pub fn verify_checksums(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    let Some(list) = find_list(dir) else { return Ok(()) };
    let root = list.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
    let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((sum, name)) = line.split_once(char::is_whitespace) else {
            return Err(Error::format(&list, format!("line {}: expected `<md5>  <file>`", line_no + 1)));
        };
        let path = root.join(name.trim_start_matches([' ', '*']));
        // Only the files of the folder asked about.
        let inside = path.parent().and_then(|p| p.canonicalize().ok()).is_some_and(|p| p.starts_with(&dir));
        if !inside {
            continue;
        }
        let actual = md5_file(&path)?;
        if actual != sum.to_ascii_lowercase() {
            return Err(Error::format(
                &path,
                format!("checksum mismatch: MD5 is {actual}, {} lists {sum}; the file is damaged or was changed", list.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_altered_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("nnc-md5-{}", std::process::id()));
        let sub = dir.join("set");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.txt"), b"hello\n").unwrap();
        // md5("hello\n")
        std::fs::write(dir.join("MD5SUMS"), "b1946ac92492d2347c6235b4d2611184  set/a.txt\n").unwrap();
        verify_checksums(&sub).unwrap();
        std::fs::write(sub.join("a.txt"), b"hellO\n").unwrap();
        let err = verify_checksums(&sub).unwrap_err().to_string();
        assert!(err.contains("a.txt") && err.contains("checksum mismatch"), "{err}");
        std::fs::remove_file(sub.join("a.txt")).unwrap();
        let err = verify_checksums(&sub).unwrap_err().to_string();
        assert!(err.contains("a.txt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bundled_mnist_matches_its_checksums() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
        if dir.exists() {
            verify_checksums(&dir).unwrap();
        }
    }
}
