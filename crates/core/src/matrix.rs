//! A dense row-major f32 matrix: the one in-memory shape for embeddings, centroids and queries.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::Shape(format!(
                "{rows} x {cols} matrix needs {} values, got {}",
                rows * cols,
                data.len()
            )));
        }
        Ok(Self { rows, cols, data })
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Rows `start..end` as a new matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        Matrix { rows: end - start, cols: self.cols, data: self.data[start * self.cols..end * self.cols].to_vec() }
    }

    /// Errors with the first offending position if any value is NaN or infinite.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        check_finite(&self.data, self.cols, what)
    }
}

/// Errors with the row and column of the first NaN or infinity in a row-major buffer.
pub fn check_finite(data: &[f32], cols: usize, what: &str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(p) => Err(Error::NonFinite(format!(
            "{what} has {} at row {}, column {}",
            data[p],
            p / cols.max(1),
            p % cols.max(1)
        ))),
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Scales a vector to unit length; leaves the zero vector alone.
pub fn normalize(a: &mut [f32]) {
    let n = norm(a);
    if n > 0.0 {
        a.iter_mut().for_each(|v| *v /= n);
    }
}
