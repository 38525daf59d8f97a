//! The map's selections: the documents inside a polygon drawn on the layout, the SAE features
//! that set a selection apart from the rest of the corpus (enrichment), and per-document
//! columns to colour the map by.

use crate::analysis::firing_counts;
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::Matrix;
use serde::Serialize;

/// The documents whose layout point lies inside `polygon` (vertices in layout units; closed
/// implicitly; even-odd rule, so a self-crossing lasso selects what a person sees as inside),
/// ascending. A rectangle is a 4-vertex polygon.
pub fn inside_polygon(layout: &Matrix, polygon: &[[f32; 2]]) -> Result<Vec<u32>> {
    if layout.cols != 2 {
        return Err(Error::Shape(format!("a layout has 2 columns, not {}", layout.cols)));
    }
    if polygon.len() < 3 {
        return Err(Error::Invalid(format!("a selection needs at least 3 corners, got {}", polygon.len())));
    }
    if polygon.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("a corner of the selection is not a finite number".into()));
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in polygon {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    let mut inside = Vec::new();
    for (doc, point) in layout.data.chunks_exact(2).enumerate() {
        let (x, y) = (point[0], point[1]);
        // The bounding box rejects most points of a small selection at once.
        if x < lo[0] || x > hi[0] || y < lo[1] || y > hi[1] {
            continue;
        }
        let mut crossings = false;
        let mut previous = polygon[polygon.len() - 1];
        for &corner in polygon {
            let ([x1, y1], [x2, y2]) = (previous, corner);
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                crossings = !crossings;
            }
            previous = corner;
        }
        if crossings {
            inside.push(doc as u32);
        }
    }
    Ok(inside)
}

/// One feature's over-representation in a selection.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct EnrichedFeature {
    pub feature: u32,
    /// Selected documents it fires in, and other documents it fires in.
    pub inside: u32,
    pub outside: u32,
    pub rate_inside: f64,
    pub rate_outside: f64,
    /// `ln` of the odds ratio of firing inside vs outside, with 0.5 added to each cell of the
    /// 2x2 table (Haldane's correction: finite when a cell is 0).
    pub log_odds: f64,
    /// The lower end of its 95% confidence interval (Woolf's standard error).
    pub lower: f64,
    /// Benjamini-Hochberg adjusted p-value of the one-sided test that it fires more inside,
    /// over every feature that fires in the corpus.
    pub q_value: f64,
    /// `q_value < 0.05`: over-represented with the false discovery rate held at 5%.
    pub significant: bool,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Enrichment {
    pub selected: u32,
    pub rest: u32,
    /// Features tested (those that fire in at least one document).
    pub tested: u32,
    /// The over-represented features (log-odds > 0), by lower confidence bound, highest first.
    pub features: Vec<EnrichedFeature>,
}

/// z of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;
/// The false discovery rate under which a feature counts as significant.
pub const FDR: f64 = 0.05;

/// The `top` features most over-represented in `selected` (document ids, each once) against
/// every other document.
pub fn enrich(codes: &SparseCodes, selected: &[u32], top: usize) -> Result<Enrichment> {
    let n = codes.rows();
    if selected.is_empty() {
        return Err(Error::Invalid("the selection is empty: it holds no documents".into()));
    }
    let mut seen = vec![false; n];
    for &d in selected {
        let slot = seen
            .get_mut(d as usize)
            .ok_or_else(|| Error::Invalid(format!("the selection names document {d}, but there are {n} documents")))?;
        if std::mem::replace(slot, true) {
            return Err(Error::Invalid(format!("the selection names document {d} twice")));
        }
    }
    if selected.len() == n {
        return Err(Error::Invalid("the selection holds every document: there is nothing to compare it with".into()));
    }
    let all: Vec<u32> = (0..n as u32).collect();
    let (inside, total) = (firing_counts(codes, selected), firing_counts(codes, &all));
    let (s, r) = (selected.len() as f64, (n - selected.len()) as f64);
    let mut rows: Vec<(EnrichedFeature, f64)> = (0..codes.d_sae)
        .filter(|&j| total[j] > 0)
        .map(|j| {
            let (a, c) = (inside[j] as f64, (total[j] - inside[j]) as f64);
            let (b, d) = (s - a, r - c);
            let log_odds = ((a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))).ln();
            let se = (1.0 / (a + 0.5) + 1.0 / (b + 0.5) + 1.0 / (c + 0.5) + 1.0 / (d + 0.5)).sqrt();
            let p = 0.5 * libm::erfc(log_odds / se / std::f64::consts::SQRT_2);
            let row = EnrichedFeature {
                feature: j as u32,
                inside: inside[j],
                outside: total[j] - inside[j],
                rate_inside: a / s,
                rate_outside: c / r,
                log_odds,
                lower: log_odds - Z95 * se,
                q_value: p,
                significant: false,
            };
            (row, p)
        })
        .collect();
    let tested = rows.len();
    // Benjamini-Hochberg: q_(i) = min over j >= i of p_(j) m / j, in ascending p order.
    let mut order: Vec<usize> = (0..tested).collect();
    order.sort_by(|&x, &y| rows[x].1.total_cmp(&rows[y].1).then(x.cmp(&y)));
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(rows[i].1 * tested as f64 / (rank + 1) as f64);
        rows[i].0.q_value = running;
        rows[i].0.significant = running < FDR;
    }
    let mut features: Vec<EnrichedFeature> =
        rows.into_iter().map(|(row, _)| row).filter(|row| row.inside > 0 && row.log_odds > 0.0).collect();
    features.sort_by(|x, y| y.lower.total_cmp(&x.lower).then(x.feature.cmp(&y.feature)));
    features.truncate(top);
    Ok(Enrichment {
        selected: selected.len() as u32,
        rest: (n - selected.len()) as u32,
        tested: tested as u32,
        features,
    })
}

/// Each document's activation of `feature` (0 where it does not fire), to colour the map by.
pub fn feature_column(codes: &SparseCodes, feature: u32) -> Result<Vec<f32>> {
    family_column(codes, &[feature])
}

/// Each document's summed activation of the `members` of a family (0 where none fires).
pub fn family_column(codes: &SparseCodes, members: &[u32]) -> Result<Vec<f32>> {
    saescope_core::sae::check_features(members.iter().copied(), codes.d_sae)?;
    let mut wanted = vec![false; codes.d_sae];
    members.iter().for_each(|&j| wanted[j as usize] = true);
    Ok((0..codes.rows()).map(|r| codes.active(r).filter(|&(j, _)| wanted[j as usize]).map(|(_, v)| v).sum()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 documents on a 10 x 10 grid of the map; documents in the left two columns fire
    /// feature 3 (and half of them feature 4); every document fires feature 0; feature 5 fires
    /// in two documents only, one of them on the left.
    fn grid() -> (Matrix, SparseCodes) {
        let mut xy = Vec::new();
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for d in 0..100u32 {
            let (x, y) = ((d % 10) as f32, (d / 10) as f32);
            xy.extend([x, y]);
            let left = x < 2.0;
            let second = if left {
                3
            } else if d == 57 {
                5
            } else {
                1
            };
            let third = if left && d % 2 == 0 {
                4
            } else if d == 11 {
                5
            } else {
                2
            };
            idx.extend([0, second, third]);
            val.extend([1.0, 2.0, 0.5]);
        }
        (Matrix::new(100, 2, xy).unwrap(), SparseCodes::new(3, 8, idx, val).unwrap())
    }

    #[test]
    fn polygons_select_what_they_enclose() {
        let (layout, _) = grid();
        let left = [[-0.5, -0.5], [1.5, -0.5], [1.5, 9.5], [-0.5, 9.5]];
        let docs = inside_polygon(&layout, &left).unwrap();
        assert_eq!(docs, (0..100).filter(|d| d % 10 < 2).collect::<Vec<u32>>());
        // A triangle with its corners on the grid diagonal: the points strictly below it.
        let triangle = [[-0.5, -0.5], [9.6, -0.5], [-0.5, 9.6]];
        assert_eq!(inside_polygon(&layout, &triangle).unwrap().len(), 55);
        // One point, and none.
        assert_eq!(inside_polygon(&layout, &[[4.9, 4.9], [5.1, 4.9], [5.0, 5.1]]).unwrap(), vec![55]);
        assert!(inside_polygon(&layout, &[[20.0, 20.0], [21.0, 20.0], [20.0, 21.0]]).unwrap().is_empty());
        assert!(inside_polygon(&layout, &[[0.0, 0.0], [1.0, 1.0]]).is_err());
        assert!(inside_polygon(&layout, &[[0.0, 0.0], [1.0, f32::NAN], [2.0, 0.0]]).is_err());
    }

    #[test]
    fn the_feature_of_a_region_comes_first_with_its_statistics() {
        let (layout, codes) = grid();
        let docs = inside_polygon(&layout, &[[-0.5, -0.5], [1.5, -0.5], [1.5, 9.5], [-0.5, 9.5]]).unwrap();
        let e = enrich(&codes, &docs, 10).unwrap();
        assert_eq!((e.selected, e.rest, e.tested), (20, 80, 6));
        let first = &e.features[0];
        assert_eq!((first.feature, first.inside, first.outside), (3, 20, 0));
        assert_eq!((first.rate_inside, first.rate_outside), (1.0, 0.0));
        // Haldane: ln((20.5 * 80.5) / (0.5 * 0.5)).
        assert!((first.log_odds - (20.5f64 * 80.5 / 0.25).ln()).abs() < 1e-12);
        // z = 8.8 / 2.015 (Woolf), one-sided p = 6e-6, times 6 tests.
        assert!(first.significant && first.q_value < 1e-4 && first.lower > 0.0, "{first:?}");
        assert_eq!(e.features[1].feature, 4);
        // Feature 0 fires everywhere: not over-represented, so not listed. Feature 5 fires
        // once inside and once outside: listed only as weak evidence, below the real ones.
        assert!(e.features.iter().all(|f| f.feature != 0));
        let five = e.features.iter().find(|f| f.feature == 5).unwrap();
        assert!(!five.significant && five.lower < 0.0);
        assert!(e.features.windows(2).all(|w| w[0].lower >= w[1].lower));
    }

    #[test]
    fn selections_of_one_of_none_and_of_everything() {
        let (_, codes) = grid();
        let one = enrich(&codes, &[0], 3).unwrap();
        assert_eq!(one.selected, 1);
        assert!(one.features.iter().any(|f| f.feature == 3));
        assert!(enrich(&codes, &[], 3).unwrap_err().to_string().contains("empty"));
        assert!(enrich(&codes, &(0..100).collect::<Vec<_>>(), 3).unwrap_err().to_string().contains("every document"));
        assert!(enrich(&codes, &[3, 3], 3).unwrap_err().to_string().contains("twice"));
        assert!(enrich(&codes, &[100], 3).is_err());
    }

    #[test]
    fn columns_colour_documents_by_features_and_families() {
        let (_, codes) = grid();
        let three = feature_column(&codes, 3).unwrap();
        assert_eq!(three.iter().filter(|&&v| v > 0.0).count(), 20);
        assert_eq!(three[0], 2.0);
        let family = family_column(&codes, &[3, 4]).unwrap();
        assert_eq!((family[0], family[1], family[2]), (2.5, 2.0, 0.0));
        assert!(feature_column(&codes, 8).is_err());
    }
}
