//! Learning curves as PNG: the history's loss columns in one panel, the
//! other metrics in a second, drawn with plotters' bitmap backend.
//!
//! No font is needed: plotters is built without font-kit (which would need
//! system fonts) and labels are drawn with a built-in 5×7 bitmap font, so
//! plots work on a headless machine with no fonts installed. The PNG is
//! encoded here with flate2 (already a dependency for gzip) instead of
//! pulling in the `image` crate.

use crate::history::History;
use crate::io::write_atomic;
use crate::{Error, Result};
use plotters::prelude::*;
use std::io::Write;
use std::path::Path;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 480;
/// Glyphs are 5×7 cells drawn at this many pixels per cell.
const SCALE: i32 = 2;

/// Line colours: one per series, in column order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws the learning curves of `history` and writes them to `path` as a PNG (atomically).
///
/// # Errors
/// [`Error::Plot`] for an empty history or a drawing failure, [`Error::Io`] if the file cannot be written.
pub fn learning_curves(history: &History, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let png = render_png(history, WIDTH, HEIGHT).map_err(|message| Error::Plot {
        path: path.to_path_buf(),
        message,
    })?;
    write_atomic(path, &png)
}

/// The learning curves as PNG bytes, `width × height` pixels.
///
/// # Errors
/// A message for an empty history, a size too small to draw in, or a drawing failure.
pub fn render_png(
    history: &History,
    width: u32,
    height: u32,
) -> std::result::Result<Vec<u8>, String> {
    if history.is_empty() {
        return Err("the history has no epochs to draw".into());
    }
    if history.epochs.len() != history.rows.len() {
        return Err(format!(
            "the history has {} rows but {} epoch numbers",
            history.rows.len(),
            history.epochs.len()
        ));
    }
    if width < 200 || height < 120 {
        return Err(format!("{width}x{height} is too small for a plot"));
    }
    let (losses, others): (Vec<usize>, Vec<usize>) =
        (0..history.columns.len()).partition(|&k| history.columns[k].contains("loss"));
    let panels: Vec<(&str, Vec<usize>)> = [("LOSS", losses), ("METRICS", others)]
        .into_iter()
        .filter(|(_, cols)| !cols.is_empty())
        .collect();
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    let mut texts: Vec<(i32, i32, String, RGBColor)> = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let areas = root.split_evenly((1, panels.len()));
        for ((title, cols), area) in panels.iter().zip(areas) {
            let (dx, _) = area.get_base_pixel();
            let (w, h) = area.dim_in_pixel();
            draw_panel(
                &area,
                history,
                cols,
                (dx, w as i32, h as i32),
                title,
                &mut texts,
            )?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    for (x, y, text, color) in texts {
        draw_text(&mut rgb, width, height, x, y, &text, color);
    }
    encode_png(&rgb, width, height).map_err(|e| e.to_string())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One panel: frame, grid, tick labels, one line per column, a legend.
/// Text is queued in `texts` (absolute pixels) and drawn after plotters is done.
fn draw_panel(
    area: &Area<'_>,
    h: &History,
    cols: &[usize],
    (x0, w, ht): (i32, i32, i32),
    title: &str,
    texts: &mut Vec<(i32, i32, String, RGBColor)>,
) -> std::result::Result<(), String> {
    let (left, right, top, bottom) = (84, 16, 34, 40);
    let (pw, ph) = (w - left - right, ht - top - bottom);
    let at = |r: &Vec<f32>, k: usize| r.get(k).copied().unwrap_or(f32::NAN);
    let values: Vec<f32> = cols
        .iter()
        .flat_map(|&k| h.rows.iter().map(move |r| at(r, k)))
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-6 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let epochs: Vec<f32> = h.epochs.iter().map(|&e| e as f32).collect();
    let (e0, e1) = (epochs[0], *epochs.last().unwrap_or(&epochs[0]));
    let span = (e1 - e0).max(1.0);
    let px = |e: f32| left + ((e - e0) / span * pw as f32) as i32;
    let py = |v: f32| top + ((hi - v) / (hi - lo) * ph as f32) as i32;
    let grid = RGBColor(225, 225, 225);
    for t in 0..=4 {
        let v = lo + (hi - lo) * t as f32 / 4.0;
        let y = py(v);
        ok(area.draw(&PathElement::new(vec![(left, y), (left + pw, y)], grid)))?;
        let label = format_tick(v);
        texts.push((x0 + left - 6 - text_width(&label), y - 7, label, BLACK));
    }
    let ticks = (e1 - e0) as usize;
    let step = (ticks / 8).max(1);
    for e in (e0 as usize..=e1 as usize).step_by(step) {
        let x = px(e as f32);
        ok(area.draw(&PathElement::new(
            vec![(x, top + ph), (x, top + ph + 4)],
            BLACK,
        )))?;
        let label = e.to_string();
        texts.push((x0 + x - text_width(&label) / 2, top + ph + 8, label, BLACK));
    }
    ok(area.draw(&Rectangle::new([(left, top), (left + pw, top + ph)], BLACK)))?;
    texts.push((
        x0 + left + pw / 2 - text_width("EPOCH") / 2,
        ht - 16,
        "EPOCH".into(),
        BLACK,
    ));
    texts.push((x0 + left, 10, title.into(), BLACK));
    let mut legend_x = x0 + left + text_width(title) + 24;
    for &k in cols {
        let color = PALETTE[k % PALETTE.len()];
        let points: Vec<(i32, i32)> = epochs
            .iter()
            .zip(&h.rows)
            .filter(|(_, r)| at(r, k).is_finite())
            .map(|(&e, r)| (px(e), py(at(r, k))))
            .collect();
        for dy in 0..2 {
            ok(area.draw(&PathElement::new(
                points.iter().map(|&(x, y)| (x, y + dy)).collect::<Vec<_>>(),
                color,
            )))?;
        }
        for &(x, y) in &points {
            ok(area.draw(&Circle::new((x, y), 2, color.filled())))?;
        }
        // Legend: a short line, then the name.
        let lx = legend_x - x0;
        ok(area.draw(&Rectangle::new([(lx, 15), (lx + 16, 17)], color.filled())))?;
        let name = h.columns[k].to_uppercase();
        texts.push((legend_x + 22, 10, name.clone(), color));
        legend_x += 22 + text_width(&name) + 18;
    }
    Ok(())
}

/// Turns a drawing error into its message.
fn ok<E: std::fmt::Display>(r: std::result::Result<(), E>) -> std::result::Result<(), String> {
    r.map_err(|e| e.to_string())
}

/// A short tick label: 3 significant digits, scientific when large or small.
fn format_tick(v: f32) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn text_width(s: &str) -> i32 {
    s.chars().count() as i32 * 6 * SCALE
}

/// A 5×7 glyph: seven rows, the five low bits of each, leftmost pixel in bit 4.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        ' ' => [0; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Paints `text` with its top-left corner at `(x, y)`, clipped to the image.
fn draw_text(rgb: &mut [u8], width: u32, height: u32, x: i32, y: i32, text: &str, color: RGBColor) {
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as i32 * 6 * SCALE;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for sy in 0..SCALE {
                    for sx in 0..SCALE {
                        let px = gx + col * SCALE + sx;
                        let py = y + row as i32 * SCALE + sy;
                        if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                            let o = ((py as u32 * width + px as u32) * 3) as usize;
                            rgb[o..o + 3].copy_from_slice(&[color.0, color.1, color.2]);
                        }
                    }
                }
            }
        }
    }
}

/// A minimal PNG encoder: 8-bit RGB, no interlace, filter 0 on every row.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(rgb.len() + height as usize);
    for row in rgb.chunks_exact(width as usize * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)?;
    let idat = z.finish()?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn history() -> History {
        History {
            columns: vec![
                "loss".into(),
                "accuracy".into(),
                "val_loss".into(),
                "val_accuracy".into(),
            ],
            rows: (0..12)
                .map(|e| {
                    let t = e as f32;
                    vec![
                        1.0 / (1.0 + t),
                        0.5 + 0.04 * t,
                        1.2 / (1.0 + 0.8 * t),
                        0.45 + 0.035 * t,
                    ]
                })
                .collect(),
            epochs: (1..=12).collect(),
            lr: vec![1e-3; 12],
            ..History::default()
        }
    }

    /// Decodes our own PNG (IHDR + one IDAT) back to RGB rows.
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + idat_len])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), (h * (w * 3 + 1)) as usize);
        (w, h, raw)
    }

    #[test]
    fn draws_a_valid_png_with_coloured_curves_and_text() {
        let png = render_png(&history(), 640, 320).unwrap();
        let (w, h, raw) = decode(&png);
        assert_eq!((w, h), (640, 320));
        let pixels: Vec<&[u8]> = raw
            .chunks_exact((w * 3 + 1) as usize)
            .flat_map(|r| r[1..].chunks_exact(3))
            .collect();
        let count = |c: RGBColor| pixels.iter().filter(|p| **p == [c.0, c.1, c.2]).count();
        // Every series colour appears (line + legend), and black text/frames too.
        for c in &PALETTE[..4] {
            assert!(count(*c) > 50, "{c:?}");
        }
        assert!(count(BLACK) > 500);
        // The IEND chunk closes the file.
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }

    #[test]
    fn empty_history_or_tiny_size_is_an_error_and_file_is_written() {
        assert!(render_png(&History::default(), 640, 320).is_err());
        assert!(render_png(&history(), 10, 10).is_err());
        let one = History {
            columns: vec!["loss".into()],
            rows: vec![vec![f32::NAN]],
            epochs: vec![1],
            lr: vec![0.1],
            ..History::default()
        };
        assert!(render_png(&one, 300, 200).is_ok());
        let path = std::env::temp_dir().join(format!("nnc-plot-{}.png", std::process::id()));
        learning_curves(&history(), &path).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
        let _ = std::fs::remove_file(&path);
        let err = learning_curves(&History::default(), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no epochs"), "{err}");
    }
}
