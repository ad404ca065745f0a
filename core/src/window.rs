//! Output-size arithmetic of sliding windows (convolution and pooling), one
//! spatial axis at a time.
//!
//! The compiler's shape checker and the runtime's kernels both use this
//! module (the runtime re-exports it as `kernels::window`), so the sizes a
//! spec's summary and diagnostics report are the ones the kernels compute.
//!
//! The rule on one axis, with `p0`/`p1` the padding before/after:
//! `out = (in + p0 + p1 - k) / stride + 1` (flooring, as Keras `valid`),
//! which for symmetric padding `P` is the textbook `(H + 2P - FH) / S + 1`.
//! Keras `same` takes `out = ceil(in / stride)` and pads
//! `total = max((out - 1)·stride + k - in, 0)`, `p0 = floor(total / 2)`,
//! the odd one at the end (`p1 = total - p0`), as TensorFlow does.

use std::fmt;

/// How an input is padded before a window slides over it, as Keras spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding; windows that would stick out are dropped (flooring).
    Valid,
    /// Pad so that `out = ceil(in / stride)`; the odd cell goes at the end.
    Same,
    /// `N` zero rows (columns) on every side.
    Explicit(usize),
}

/// A window size, stride or padding that yields no valid output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// An input, kernel or stride size is zero.
    Zero {
        /// Which size: `"input"`, `"kernel"` or `"stride"`.
        what: &'static str,
    },
    /// The kernel does not fit in the padded input, so the output is empty.
    KernelLargerThanInput {
        /// Kernel size on this axis.
        kernel: usize,
        /// Input size on this axis including the padding.
        padded: usize,
    },
    /// A pooling window whose padding is at least the window size could
    /// cover only padding, which has no maximum or mean.
    PadNotSmallerThanPool {
        /// The padding on one side.
        pad: usize,
        /// The pooling window size on this axis.
        size: usize,
    },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WindowError::Zero { what } => write!(f, "{what} size must be at least 1"),
            WindowError::KernelLargerThanInput { kernel, padded } => write!(
                f,
                "kernel of size {kernel} is larger than its padded input of size {padded}"
            ),
            WindowError::PadNotSmallerThanPool { pad, size } => write!(
                f,
                "padding {pad} is not smaller than the pooling window {size}"
            ),
        }
    }
}

impl std::error::Error for WindowError {}

/// One spatial axis of a window: input size, kernel, stride and the
/// padding on both sides, all resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAxis {
    /// Input size (without padding).
    pub input: usize,
    /// Kernel (window) size.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Zero cells before the input (top or left).
    pub pad_before: usize,
    /// Zero cells after the input (bottom or right).
    pub pad_after: usize,
}

impl WindowAxis {
    /// Resolves `padding` for one axis and checks that the output is not empty.
    ///
    /// # Errors
    /// [`WindowError::Zero`] for a zero size, [`WindowError::KernelLargerThanInput`]
    /// when no window fits in the padded input.
    pub fn new(
        input: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    ) -> Result<WindowAxis, WindowError> {
        for (what, v) in [("input", input), ("kernel", kernel), ("stride", stride)] {
            if v == 0 {
                return Err(WindowError::Zero { what });
            }
        }
        let (pad_before, pad_after) = match padding {
            Padding::Valid => (0, 0),
            Padding::Explicit(p) => (p, p),
            Padding::Same => {
                let out = input.div_ceil(stride);
                let total = ((out - 1) * stride + kernel).saturating_sub(input);
                (total / 2, total - total / 2)
            }
        };
        let axis = WindowAxis {
            input,
            kernel,
            stride,
            pad_before,
            pad_after,
        };
        if kernel > axis.padded() {
            return Err(WindowError::KernelLargerThanInput {
                kernel,
                padded: axis.padded(),
            });
        }
        Ok(axis)
    }

    /// Input size including the padding on both sides.
    pub fn padded(&self) -> usize {
        self.input + self.pad_before + self.pad_after
    }

    /// Output size: `(padded - kernel) / stride + 1`.
    ///
    /// # Panics
    /// If the kernel is larger than the padded input or the stride is zero
    /// (which [`WindowAxis::new`] rules out).
    pub fn output(&self) -> usize {
        (self.padded() - self.kernel) / self.stride + 1
    }

    /// Input cells (padding excluded) that no window covers: at the end
    /// when the stride does not divide evenly (never with `same`), and
    /// between windows when the stride exceeds the kernel. The count a
    /// "rows dropped" warning reports.
    pub fn dropped(&self) -> usize {
        // Windows move right in both ends, so each adds the cells past
        // the end of the previous one.
        let (mut covered, mut end) = (0, 0);
        for o in 0..self.output() {
            let (lo, hi, _) = self.span(o);
            let lo = lo.max(end);
            if hi > lo {
                covered += hi - lo;
                end = hi;
            }
        }
        self.input - covered
    }

    /// The window of output position `o` as a half-open range of input
    /// cells with the padding clipped off, plus the kernel offset of its
    /// first cell: `(first input cell, end input cell, first kernel cell)`.
    #[inline]
    pub fn span(&self, o: usize) -> (usize, usize, usize) {
        let start = o * self.stride;
        let (first, end) = (self.pad_before, self.pad_before + self.input);
        // A window over padding only (before or after the input, possible
        // with explicit padding at least the kernel) is empty at the edge.
        let lo = start.clamp(first, end);
        let hi = (start + self.kernel).clamp(lo, end);
        (
            lo - first,
            hi - first,
            lo.saturating_sub(start).min(self.kernel),
        )
    }

    /// The axis that computes only the first `outputs` positions: the input
    /// cut after the last cell their windows read (or, when they reach into
    /// the padding after it, that padding shortened). Each of those windows
    /// covers the same cells as before ([`WindowAxis::span`] agrees), so a
    /// layer computed on the shorter axis gives the same values there.
    /// `None` when `outputs` is 0 or more than [`WindowAxis::output`], or
    /// when those windows read no input cell at all (padding only).
    pub fn prefix(&self, outputs: usize) -> Option<WindowAxis> {
        if outputs == 0 || outputs > self.output() {
            return None;
        }
        // End of the last window, in padded coordinates.
        let end = (outputs - 1) * self.stride + self.kernel;
        let read = end.checked_sub(self.pad_before).filter(|&r| r > 0)?;
        let axis = if read <= self.input {
            WindowAxis {
                input: read,
                pad_after: 0,
                ..*self
            }
        } else {
            WindowAxis {
                pad_after: read - self.input,
                ..*self
            }
        };
        debug_assert_eq!(axis.output(), outputs);
        Some(axis)
    }

    /// The pooling check on top of [`WindowAxis::new`]: each side's padding
    /// must be smaller than the window, so that no window is padding only.
    ///
    /// # Errors
    /// [`WindowError::PadNotSmallerThanPool`].
    pub fn check_pool(&self) -> Result<(), WindowError> {
        let pad = self.pad_before.max(self.pad_after);
        if pad >= self.kernel {
            return Err(WindowError::PadNotSmallerThanPool {
                pad,
                size: self.kernel,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_floors_and_reports_dropped_cells() {
        // The tutorial: 28 -> 25 with a 4x4 kernel; a 3x3 pool on 25 -> 8 drops one.
        let a = WindowAxis::new(28, 4, 1, Padding::Valid).unwrap();
        assert_eq!((a.output(), a.dropped()), (25, 0));
        let p = WindowAxis::new(25, 3, 3, Padding::Valid).unwrap();
        assert_eq!((p.output(), p.dropped()), (8, 1));
        let a = WindowAxis::new(8, 4, 1, Padding::Valid).unwrap();
        assert_eq!(a.output(), 5);
        // Stride 3 over a 2-wide kernel on 10 cells: windows 0-1, 3-4, 6-7;
        // cells 2, 5, 8, 9 are never read.
        let a = WindowAxis::new(10, 2, 3, Padding::Valid).unwrap();
        assert_eq!((a.output(), a.dropped()), (3, 4));
        // Explicit padding: a trailing remainder that is padding drops nothing.
        let a = WindowAxis::new(4, 3, 2, Padding::Explicit(1)).unwrap();
        assert_eq!((a.output(), a.dropped()), (2, 0));
    }

    #[test]
    fn same_matches_tensorflow() {
        // (in, k, s) -> (out, before, after), from TF's rule.
        for (i, k, s, want) in [
            (28, 4, 1, (28, 1, 2)),
            (28, 3, 1, (28, 1, 1)),
            (7, 2, 2, (4, 0, 1)),
            (5, 1, 3, (2, 0, 0)),
            (6, 5, 2, (3, 1, 2)),
            (2, 5, 1, (2, 2, 2)),
        ] {
            let a = WindowAxis::new(i, k, s, Padding::Same).unwrap();
            assert_eq!((a.output(), a.pad_before, a.pad_after), want, "{i} {k} {s}");
            // `same` drops nothing at the end, only the gaps of a stride
            // larger than the kernel (5, 1, 3: cells 1, 2 and 4).
            assert_eq!(a.dropped(), if k >= s { 0 } else { 3 });
        }
    }

    #[test]
    fn explicit_is_the_textbook_rule_and_errors_are_reported() {
        let a = WindowAxis::new(7, 3, 2, Padding::Explicit(1)).unwrap();
        assert_eq!(a.output(), (7 + 2 - 3) / 2 + 1);
        assert_eq!(
            WindowAxis::new(3, 5, 1, Padding::Valid),
            Err(WindowError::KernelLargerThanInput {
                kernel: 5,
                padded: 3
            })
        );
        assert_eq!(
            WindowAxis::new(3, 1, 0, Padding::Valid),
            Err(WindowError::Zero { what: "stride" })
        );
        let p = WindowAxis::new(4, 2, 2, Padding::Explicit(2)).unwrap();
        assert!(p.check_pool().is_err());
    }

    #[test]
    fn prefix_keeps_every_computed_window() {
        // Every small axis and padding, every prefix length.
        for input in 1..=12 {
            for kernel in 1..=6 {
                for stride in 1..=4 {
                    for padding in [
                        Padding::Valid,
                        Padding::Same,
                        Padding::Explicit(1),
                        Padding::Explicit(3),
                    ] {
                        let Ok(a) = WindowAxis::new(input, kernel, stride, padding) else {
                            continue;
                        };
                        assert_eq!(a.prefix(0), None);
                        assert_eq!(a.prefix(a.output() + 1), None);
                        for r in 1..=a.output() {
                            let Some(p) = a.prefix(r) else {
                                // Only windows over padding alone are refused.
                                assert!((0..r).all(|o| a.span(o).0 == a.span(o).1), "{a:?} {r}");
                                continue;
                            };
                            assert_eq!(p.output(), r, "{a:?} {r}");
                            assert!(p.input <= a.input && p.pad_after <= a.pad_after);
                            assert_eq!(p.pad_before, a.pad_before);
                            for o in 0..r {
                                assert_eq!(p.span(o), a.span(o), "{a:?} {r} {o}");
                            }
                            // The cells after the cut are read by no kept window.
                            let last = (0..r).map(|o| a.span(o).1).max().unwrap();
                            assert_eq!(last, p.input, "{a:?} {r}");
                        }
                    }
                }
            }
        }
        // The tutorial's second convolution: a 3x3 pool keeps 3 of its 5
        // rows, which read 6 of the 8 input rows.
        let conv2 = WindowAxis::new(8, 4, 1, Padding::Valid).unwrap();
        assert_eq!(conv2.prefix(3).map(|p| p.input), Some(6));
    }

    #[test]
    fn span_clips_the_padding() {
        let a = WindowAxis::new(5, 3, 2, Padding::Explicit(1)).unwrap();
        assert_eq!(a.output(), 3);
        assert_eq!(a.span(0), (0, 2, 1));
        assert_eq!(a.span(1), (1, 4, 0));
        assert_eq!(a.span(2), (3, 5, 0));
        // A window entirely in the padding is empty.
        let b = WindowAxis::new(1, 1, 1, Padding::Explicit(1)).unwrap();
        for o in [0, 2] {
            let (lo, hi, _) = b.span(o);
            assert_eq!(lo, hi);
        }
        assert_eq!(b.span(1), (0, 1, 0));
    }
}
