//! The per-epoch record of a training run, saved as CSV or JSON (and drawn
//! by [`crate::plot`]).

use crate::io::write_atomic;
use crate::Result;
use std::path::Path;

/// Per-epoch values, Keras-style: `loss`, each metric, and their `val_`
/// counterparts when there is validation data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Column names, e.g. `["loss", "accuracy", "val_loss", "val_accuracy"]`.
    pub columns: Vec<String>,
    /// One row per epoch, aligned with `columns`.
    pub rows: Vec<Vec<f32>>,
    /// The 1-based epoch number of each row (resumed runs start past 1).
    pub epochs: Vec<usize>,
    /// Learning rate used in each epoch.
    pub lr: Vec<f32>,
    /// The epoch at which early stopping ended training, if it did.
    pub stopped_epoch: Option<usize>,
    /// The epoch whose weights were restored by early stopping, if any.
    pub restored_epoch: Option<usize>,
}

impl History {
    /// The values of one column, e.g. `history.get("val_loss")`.
    pub fn get(&self, column: &str) -> Option<Vec<f32>> {
        let k = self.columns.iter().position(|c| c == column)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(k).copied().unwrap_or(f32::NAN))
                .collect(),
        )
    }

    /// The last epoch's value of a column.
    pub fn last(&self, column: &str) -> Option<f32> {
        let k = self.columns.iter().position(|c| c == column)?;
        self.rows.last().and_then(|r| r.get(k).copied())
    }

    /// Number of epochs recorded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no epoch was recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// CSV text: a header `epoch,lr,<columns>` then one line per epoch.
    pub fn to_csv(&self) -> String {
        let mut s = format!("epoch,lr,{}\n", self.columns.join(","));
        for ((row, epoch), lr) in self.rows.iter().zip(&self.epochs).zip(&self.lr) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            s += &format!("{epoch},{lr},{}\n", cells.join(","));
        }
        s
    }

    /// JSON text: `{"epoch": [...], "lr": [...], "loss": [...], ...}`
    /// (non-finite values, which JSON cannot hold, become `null`).
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("epoch".into(), self.epochs.clone().into());
        let num = |v: f32| {
            serde_json::Number::from_f64(v as f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        };
        map.insert("lr".into(), self.lr.iter().map(|&v| num(v)).collect());
        for (k, c) in self.columns.iter().enumerate() {
            map.insert(
                c.clone(),
                self.rows
                    .iter()
                    .map(|r| r.get(k).map_or(serde_json::Value::Null, |&v| num(v)))
                    .collect(),
            );
        }
        serde_json::Value::Object(map).to_string()
    }

    /// Parses [`History::to_csv`]'s output (used to resume from checkpoints).
    /// Returns `None` for text that is not such a table.
    pub fn from_csv(text: &str) -> Option<History> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.split(',').collect();
        if header.len() < 2 || header[0] != "epoch" || header[1] != "lr" {
            return None;
        }
        let mut h = History {
            columns: header[2..].iter().map(|c| c.to_string()).collect(),
            ..History::default()
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != header.len() {
                return None;
            }
            h.epochs.push(cells[0].parse().ok()?);
            h.lr.push(cells[1].parse().ok()?);
            h.rows.push(
                cells[2..]
                    .iter()
                    .map(|c| c.parse().ok())
                    .collect::<Option<Vec<f32>>>()?,
            );
        }
        Some(h)
    }

    /// Writes [`History::to_csv`] to `path` (atomically).
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the file cannot be written.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Writes [`History::to_json`] to `path` (atomically).
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the file cannot be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_json().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json() {
        let h = History {
            columns: vec!["loss".into(), "val_loss".into()],
            rows: vec![vec![1.5, 2.0], vec![0.5, f32::NAN]],
            epochs: vec![1, 2],
            lr: vec![0.1, 0.05],
            ..History::default()
        };
        assert_eq!(
            h.to_csv(),
            "epoch,lr,loss,val_loss\n1,0.1,1.5,2\n2,0.05,0.5,NaN\n"
        );
        let j: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
        assert_eq!(j["loss"][1], 0.5);
        assert!(j["val_loss"][1].is_null());
        assert_eq!(h.get("loss").unwrap(), [1.5, 0.5]);
        assert_eq!(h.last("loss"), Some(0.5));
        assert!(h.get("nope").is_none());
        let back = History::from_csv(&h.to_csv()).unwrap();
        assert_eq!(back.to_csv(), h.to_csv());
        assert!(History::from_csv("nonsense").is_none());
    }
}
