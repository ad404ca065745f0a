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
    render(history, width, height).map(|(png, _)| png)
}

/// [`render_png`], also returning the labels drawn (for the layout tests).
fn render(
    history: &History,
    width: u32,
    height: u32,
) -> std::result::Result<(Vec<u8>, Vec<Text>), String> {
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
    let mut texts: Vec<Text> = Vec::new();
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
    for t in &texts {
        draw_text(&mut rgb, (width, height), t);
    }
    let png = encode_png(&rgb, width, height).map_err(|e| e.to_string())?;
    Ok((png, texts))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One panel: frame, grid, tick labels, axis labels, one line per column,
/// a legend that wraps onto as many rows as it needs, and a marker at the
/// epoch whose weights early stopping restored.
/// Text is queued in `texts` (absolute pixels) and drawn after plotters is done.
fn draw_panel(
    area: &Area<'_>,
    h: &History,
    cols: &[usize],
    (x0, w, ht): (i32, i32, i32),
    title: &str,
    texts: &mut Vec<Text>,
) -> std::result::Result<(), String> {
    let (left, right, bottom) = (96, 16, 40);
    // The legend: entries laid out left to right, wrapped at the panel's edge.
    let entry_width = |k: usize| 22 + text_width(&h.columns[k].to_uppercase()) + 18;
    let mut legend: Vec<(usize, i32, i32)> = Vec::new();
    // Beside the title while it fits, then on rows of its own below it.
    let (mut row_left, mut lx, mut ly) = (0, left + text_width(title) + 24, 10);
    for &k in cols {
        if lx + entry_width(k) - 18 > w - right && lx > row_left {
            (row_left, lx, ly) = (8, 8, ly + 20);
        }
        legend.push((k, lx, ly));
        lx += entry_width(k);
    }
    let top = ly + 24;
    let (pw, ph) = (w - left - right, ht - top - bottom);
    if pw < 40 || ph < 40 {
        return Err(format!(
            "{w}x{ht} pixels are too few for the panel `{title}`"
        ));
    }
    let at = |r: &Vec<f32>, k: usize| r.get(k).copied().unwrap_or(f32::NAN);
    let values: Vec<f32> = cols
        .iter()
        .flat_map(|&k| h.rows.iter().map(move |r| at(r, k)))
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let ticks = nice_ticks(lo, hi);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let epochs: Vec<f32> = h.epochs.iter().map(|&e| e as f32).collect();
    let (e0, e1) = (epochs[0], *epochs.last().unwrap_or(&epochs[0]));
    let span = (e1 - e0).max(1.0);
    let px = |e: f32| left + ((e - e0) / span * pw as f32) as i32;
    let py = |v: f32| top + ((hi - v) / (hi - lo) * ph as f32).round() as i32;
    let grid = RGBColor(225, 225, 225);
    for &v in &ticks {
        let y = py(v);
        ok(area.draw(&PathElement::new(vec![(left, y), (left + pw, y)], grid)))?;
        let label = format_tick(v, &ticks);
        texts.push(Text::new(
            x0 + left - 6 - text_width(&label),
            y - 7,
            label,
            BLACK,
        ));
    }
    let step = (((e1 - e0) as usize) / 8).max(1);
    for e in (e0 as usize..=e1 as usize).step_by(step) {
        let x = px(e as f32);
        ok(area.draw(&PathElement::new(
            vec![(x, top + ph), (x, top + ph + 4)],
            BLACK,
        )))?;
        let label = e.to_string();
        texts.push(Text::new(
            x0 + x - text_width(&label) / 2,
            top + ph + 8,
            label,
            BLACK,
        ));
    }
    // Early stopping's restored epoch: a dashed vertical line, labelled.
    if let Some(best) = h.restored_epoch {
        let e = best as f32;
        if (e0..=e1).contains(&e) {
            let x = px(e);
            let mut y = top;
            while y < top + ph {
                let end = (y + 6).min(top + ph);
                ok(area.draw(&PathElement::new(vec![(x, y), (x, end)], BLACK)))?;
                y += 10;
            }
            let label = format!("BEST {best}");
            let lx = if x + 4 + text_width(&label) <= left + pw {
                x + 4
            } else {
                x - 4 - text_width(&label)
            };
            texts.push(Text::new(x0 + lx, top + 4, label, BLACK));
        }
    }
    ok(area.draw(&Rectangle::new([(left, top), (left + pw, top + ph)], BLACK)))?;
    texts.push(Text::new(
        x0 + left + pw / 2 - text_width("EPOCH") / 2,
        ht - 16,
        "EPOCH".into(),
        BLACK,
    ));
    // The y axis' label, written upwards along the axis.
    let ylabel = axis_label(h, cols, title);
    let mut label = Text::new(
        x0 + 6,
        top + ph / 2 + text_width(&ylabel) / 2,
        ylabel,
        BLACK,
    );
    label.upwards = true;
    texts.push(label);
    texts.push(Text::new(x0 + left, 10, title.into(), BLACK));
    for &(k, lx, ly) in &legend {
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
        ok(area.draw(&Rectangle::new(
            [(lx, ly + 5), (lx + 16, ly + 7)],
            color.filled(),
        )))?;
        texts.push(Text::new(
            x0 + lx + 22,
            ly,
            h.columns[k].to_uppercase(),
            color,
        ));
    }
    Ok(())
}

/// A label queued for [`draw_text`]: top-left corner in absolute pixels, or
/// for upward text the bottom-left corner.
struct Text {
    x: i32,
    y: i32,
    text: String,
    color: RGBColor,
    upwards: bool,
}

impl Text {
    fn new(x: i32, y: i32, text: String, color: RGBColor) -> Text {
        Text {
            x,
            y,
            text,
            color,
            upwards: false,
        }
    }
}

/// What the y axis of a panel shows: the metric's name when every series is
/// the same metric (training and validation), else the panel's title.
fn axis_label(h: &History, cols: &[usize], title: &str) -> String {
    let base = |k: usize| h.columns[k].trim_start_matches("val_").to_uppercase();
    match cols.first() {
        Some(&first) if cols.iter().all(|&k| base(k) == base(first)) => base(first),
        _ => title.to_string(),
    }
}

/// Tick values for data in `lo..=hi`: 3 to 7 round numbers (1, 2 or 5
/// times a power of ten apart) whose first is at or below `lo` and last at
/// or above `hi`. Data that never goes below zero (a loss, an accuracy)
/// gets no negative tick.
fn nice_ticks(lo: f32, hi: f32) -> Vec<f32> {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo as f64, hi as f64)
    } else {
        (0.0, 1.0)
    };
    if hi - lo < 1e-9 * hi.abs().max(1e-30) {
        // A flat series: a band around it.
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo, hi) = (lo - half, hi + half);
    }
    let nonneg = lo >= 0.0;
    let raw = (hi - lo) / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let mut first = (lo / step).floor() * step;
    if nonneg && first < 0.0 {
        first = 0.0;
    }
    let mut ticks = Vec::new();
    let mut k = 0;
    loop {
        let v = first + k as f64 * step;
        ticks.push(v as f32);
        if v >= hi - step * 1e-6 || ticks.len() >= 12 {
            break;
        }
        k += 1;
    }
    if ticks.len() < 2 {
        ticks.push((first + step) as f32);
    }
    ticks
}

/// Turns a drawing error into its message.
fn ok<E: std::fmt::Display>(r: std::result::Result<(), E>) -> std::result::Result<(), String> {
    r.map_err(|e| e.to_string())
}

/// A tick label with as many decimals as the tick spacing needs (so
/// 0.25 and 0.5 read `0.25`, `0.50`), scientific when large or small.
fn format_tick(v: f32, ticks: &[f32]) -> String {
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        1.0
    };
    let a = v.abs().max(step);
    if v != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (-(step as f64).log10().floor()).max(0.0) as usize;
    // A step of 0.25 needs one more digit than its magnitude says.
    let decimals = if ((step as f64) * 10f64.powi(decimals as i32)
        - (step as f64 * 10f64.powi(decimals as i32)).round())
    .abs()
        > 1e-3
    {
        decimals + 1
    } else {
        decimals
    };
    format!("{v:.decimals$}")
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

/// Paints a label, clipped to the image: left to right from its top-left
/// corner, or upwards (turned a quarter counter-clockwise) from its
/// bottom-left corner.
fn draw_text(rgb: &mut [u8], (width, height): (u32, u32), t: &Text) {
    let cell = 6 * SCALE;
    for (i, c) in t.text.chars().enumerate() {
        let advance = i as i32 * cell;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for sy in 0..SCALE {
                    for sx in 0..SCALE {
                        let (px, py) = if t.upwards {
                            // Glyph rows run left to right, columns bottom to top.
                            (
                                t.x + row as i32 * SCALE + sx,
                                t.y - advance - (col + 1) * SCALE + sy,
                            )
                        } else {
                            (
                                t.x + advance + col * SCALE + sx,
                                t.y + row as i32 * SCALE + sy,
                            )
                        };
                        if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                            let o = ((py as u32 * width + px as u32) * 3) as usize;
                            rgb[o..o + 3].copy_from_slice(&[t.color.0, t.color.1, t.color.2]);
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

    /// Every label lies wholly inside the image (nothing cut at an edge).
    fn assert_labels_inside(texts: &[Text], (w, h): (i32, i32)) {
        for t in texts {
            let len = text_width(&t.text);
            let (x0, y0, x1, y1) = if t.upwards {
                (t.x, t.y - len, t.x + 7 * SCALE, t.y)
            } else {
                (t.x, t.y, t.x + len, t.y + 7 * SCALE)
            };
            assert!(
                x0 >= 0 && y0 >= 0 && x1 <= w && y1 <= h,
                "`{}` at {:?} is cut by the {w}x{h} image",
                t.text,
                (x0, y0, x1, y1)
            );
        }
    }

    #[test]
    fn legends_of_many_long_columns_wrap_inside_the_image() {
        let names = [
            "loss",
            "accuracy",
            "mae",
            "val_loss",
            "val_accuracy",
            "val_mae",
        ];
        for n in 1..=names.len() {
            for (w, ht) in [(960, 480), (640, 320), (400, 300)] {
                let h = History {
                    columns: names[..n].iter().map(|c| c.to_string()).collect(),
                    rows: (0..5).map(|e| vec![1.0 / (1.0 + e as f32); n]).collect(),
                    epochs: (1..=5).collect(),
                    lr: vec![1e-3; 5],
                    restored_epoch: Some(3),
                    ..History::default()
                };
                let (_, texts) = render(&h, w, ht).unwrap();
                assert_labels_inside(&texts, (w as i32, ht as i32));
                for c in &names[..n] {
                    assert!(texts.iter().any(|t| t.text == c.to_uppercase()), "{c}");
                }
            }
        }
    }

    #[test]
    fn ticks_are_round_cover_the_data_and_stay_non_negative_for_non_negative_data() {
        let mut rng = crate::Rng::seed_from(7);
        for _ in 0..2000 {
            let scale = 10f32.powi((rng.next_f32() * 8.0) as i32 - 4);
            let a = rng.next_f32() * scale;
            let b = a + rng.next_f32() * scale;
            let signed = rng.next_f32() < 0.3;
            let (lo, hi) = if signed { (a - scale, b) } else { (a, b) };
            let t = nice_ticks(lo, hi);
            assert!(
                (3..=12).contains(&t.len()) || t.len() == 2,
                "{lo} {hi} {t:?}"
            );
            assert!(
                t[0] <= lo && *t.last().unwrap() >= hi * (1.0 - 1e-6),
                "{lo} {hi} {t:?}"
            );
            if lo >= 0.0 {
                assert!(t[0] >= 0.0, "{lo} {hi} {t:?}");
            }
            // Evenly spaced by 1, 2 or 5 times a power of ten.
            let step = (t[1] - t[0]) as f64;
            let mant = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .any(|m| (mant - m).abs() < 2e-2),
                "{t:?}"
            );
        }
        // The case from the report: a loss from 0.27 to 0.93.
        assert_eq!(nice_ticks(0.271, 0.928), vec![0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(format_tick(0.2, &[0.2, 0.4]), "0.2");
        assert_eq!(format_tick(0.25, &[0.0, 0.25]), "0.25");
        assert_eq!(format_tick(2.0, &[0.0, 2.0, 4.0]), "2");
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
