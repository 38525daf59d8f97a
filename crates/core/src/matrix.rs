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

/// The largest magnitude accepted in embeddings and SAE weights. Real ones are O(1); with
/// every value within +-1e6, no sum saescope computes (pre-activations over up to 16,384
/// dimensions, reconstructions, dot products, squared distances) can overflow float32, so a
/// finite input never turns into an infinite code or score.
pub const MAX_ABS_VALUE: f32 = 1e6;

/// Errors with the row and column of the first NaN, infinity or value beyond
/// [`MAX_ABS_VALUE`] in a row-major buffer.
pub fn check_finite(data: &[f32], cols: usize, what: &str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite() || v.abs() > MAX_ABS_VALUE) {
        None => Ok(()),
        Some(p) => {
            let (v, row, col) = (data[p], p / cols.max(1), p % cols.max(1));
            let why = if v.is_finite() {
                format!(" (values beyond +-{MAX_ABS_VALUE:e} would overflow float32 arithmetic; embeddings and SAE weights are O(1))")
            } else {
                String::new()
            };
            let shown = if v.is_finite() { format!("{v:e}") } else { v.to_string() };
            Err(Error::NonFinite(format!("{what} has {shown} at row {row}, column {col}{why}")))
        }
    }
}

/// In eight independent sums, which compilers vectorise (one running sum must be added in
/// order and is not): 4x faster for the 384-d rows of search, norms and k-means.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
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

/// `C[m,n] = beta * C + A[m,k] * B[k,n]` for row-major slices, where `a_t` / `b_t` say that
/// the slice holds the transpose (`[k,m]` / `[n,k]`). The one dense product of the CPU path
/// (matrixmultiply's blocked SGEMM; threaded natively).
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, k: usize, n: usize, a: &[f32], a_t: bool, b: &[f32], b_t: bool, beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm operand sizes");
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = if a_t { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if b_t { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the assertion above keeps every strided access of the three operands in bounds.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_handles_each_transpose() {
        // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[1,1]] (3x2): AB = [[4,5],[10,11]].
        let a = [1., 2., 3., 4., 5., 6.];
        let b = [1., 0., 0., 1., 1., 1.];
        let mut c = [0.0; 4];
        gemm(2, 3, 2, &a, false, &b, false, 0.0, &mut c);
        assert_eq!(c, [4., 5., 10., 11.]);
        let a_t = [1., 4., 2., 5., 3., 6.];
        let b_t = [1., 0., 1., 0., 1., 1.];
        let mut c2 = [1.0; 4];
        gemm(2, 3, 2, &a_t, true, &b_t, true, 1.0, &mut c2);
        assert_eq!(c2, [5., 6., 11., 12.]);
    }
}
