//! Per-row top-k selection, the reference for the GPU's radix-select kernel.
//!
//! Order is part of the contract: larger values first, and among equal values the smaller index
//! first, so that CPU and GPU results can be compared entry by entry.

use std::cmp::Ordering;

/// The order of selected entries: value descending, then index ascending.
pub fn rank_order(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `k` largest entries of `row` as (index, value), in [`rank_order`].
pub fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = row.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
    let k = k.min(all.len());
    if k == 0 {
        return Vec::new();
    }
    if k < all.len() {
        all.select_nth_unstable_by(k - 1, rank_order);
        all.truncate(k);
    }
    all.sort_unstable_by(rank_order);
    all
}

/// Merges candidate lists (each already in rank order) into the best `k`.
pub fn merge(lists: impl IntoIterator<Item = Vec<(u32, f32)>>, k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(rank_order);
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_largest_with_index_tiebreak() {
        let row = [0.5, 3.0, -1.0, 3.0, 2.0, 0.0];
        assert_eq!(top_k(&row, 3), vec![(1, 3.0), (3, 3.0), (4, 2.0)]);
        assert_eq!(top_k(&row, 10).len(), 6);
        assert!(top_k(&row, 0).is_empty());
    }

    #[test]
    fn merge_keeps_global_best() {
        let merged = merge([vec![(0, 5.0), (1, 1.0)], vec![(7, 4.0), (9, 3.0)]], 3);
        assert_eq!(merged, vec![(0, 5.0), (7, 4.0), (9, 3.0)]);
    }
}
