//! A table of a checked network, like Keras' `model.summary()`: each layer's
//! name, source, output shape, parameter count and multiply-adds (with the
//! size arithmetic of convolution and pooling layers), and the totals.

use std::fmt;

use crate::ir::{Network, Shape};

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The layer's name, e.g. `dense1`.
    pub name: String,
    /// The layer as written, e.g. `dense(64) relu`.
    pub source: String,
    /// Per-sample output shape.
    pub output: Shape,
    /// Number of parameters (weights and biases).
    pub params: u64,
    /// Multiply-adds per sample of the forward pass.
    pub macs: u64,
    /// How the output size follows from the input (convolution and
    /// pooling), e.g. `rows and columns (28 - 4) / 1 + 1 = 25`.
    pub arithmetic: Option<String>,
    /// Whether its parameters are trained.
    pub trainable: bool,
}

/// The summary of one network; `Display` prints it as a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The network's name.
    pub name: String,
    /// The input's name and shape, shown as the first line of the table.
    pub input: (String, Shape),
    /// One row per layer.
    pub rows: Vec<Row>,
    /// All parameters.
    pub total: u64,
    /// Parameters updated by training.
    pub trainable: u64,
    /// Parameters of frozen (`trainable = false`) layers.
    pub frozen: u64,
    /// Multiply-adds per sample of the forward pass.
    pub macs: u64,
    /// Of those, the ones the generated code computes: rows and columns of
    /// feature maps that reach no output are skipped (see [`crate::lower`]).
    pub computed_macs: u64,
}

/// Summarises a checked network.
pub fn summary(net: &Network) -> Summary {
    let rows: Vec<Row> = net
        .layers
        .iter()
        .map(|l| {
            let decls = l.op.def().params(l);
            // Saturating: absurd specs must not overflow.
            let params = decls.iter().fold(0u64, |acc, d| {
                let n = d
                    .shape
                    .iter()
                    .fold(1u64, |n, &k| n.saturating_mul(k as u64));
                acc.saturating_add(n)
            });
            let trainable = decls.iter().all(|d| d.trainable);
            Row {
                name: l.name.clone(),
                source: l.source.clone(),
                output: l.output.clone(),
                params,
                macs: l.op.def().macs(l),
                arithmetic: l.op.def().arithmetic(l),
                trainable,
            }
        })
        .collect();
    let total = rows.iter().fold(0u64, |a, r| a.saturating_add(r.params));
    let frozen = rows
        .iter()
        .filter(|r| !r.trainable)
        .fold(0u64, |a, r| a.saturating_add(r.params));
    let macs = rows.iter().fold(0u64, |a, r| a.saturating_add(r.macs));
    Summary {
        macs,
        computed_macs: crate::lower::computed_macs(net),
        name: net.name.clone(),
        input: (net.input.name.clone(), net.input.shape.clone()),
        rows,
        total,
        trainable: total - frozen,
        frozen,
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each row, then its size arithmetic (if any) on a line of its own.
        let mut table: Vec<([String; 4], Option<&str>)> = vec![(
            [
                "Layer (source)".into(),
                "Output shape".into(),
                "Params".into(),
                "MACs".into(),
            ],
            None,
        )];
        table.push((
            [
                format!("{} (input)", self.input.0),
                shape(&self.input.1),
                "0".into(),
                "0".into(),
            ],
            None,
        ));
        for r in &self.rows {
            let frozen = if r.trainable { "" } else { ", frozen" };
            table.push((
                [
                    format!("{} ({}{frozen})", r.name, r.source),
                    shape(&r.output),
                    thousands(r.params),
                    thousands(r.macs),
                ],
                r.arithmetic.as_deref(),
            ));
        }
        let w = |i: usize| {
            table
                .iter()
                .map(|r| r.0[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3));
        let width = w0 + w1 + w2 + w3 + 6;
        writeln!(f, "Network: {}", self.name)?;
        writeln!(f, "{}", "_".repeat(width))?;
        for (i, (r, arithmetic)) in table.iter().enumerate() {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}",
                r[0], r[1], r[2], r[3]
            )?;
            if let Some(a) = arithmetic {
                writeln!(f, "    {a}")?;
            }
            if i == 0 {
                writeln!(f, "{}", "=".repeat(width))?;
            }
        }
        writeln!(f, "{}", "=".repeat(width))?;
        writeln!(f, "Total params: {}", thousands(self.total))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable))?;
        writeln!(f, "Frozen params: {}", thousands(self.frozen))?;
        write!(f, "Multiply-adds per sample: {}", thousands(self.macs))?;
        if self.computed_macs != self.macs {
            write!(
                f,
                " ({} computed: the rest reach no output)",
                thousands(self.computed_macs)
            )?;
        }
        writeln!(f)?;
        write!(f, "{}", "_".repeat(width))
    }
}
