//! `saescope layout` (a bundle's 2D map: computed, or imported from a `.npy`) and `saescope
//! select` (the documents inside a polygon of the map and the features that set them apart: the
//! page's lasso, on the same code).

use anyhow::{bail, Context, Result};
use saescope_build::files::{load_bundle, read};
use saescope_build::stages::{add_layout_to_bundle, compute_layout};
use saescope_format::bundle::parse_layout;
use saescope_format::documents::parse_documents;
use saescope_interp::selection::{enrich, inside_polygon};
use std::path::Path;

/// Lays out the bundle at `dir` (or takes `from`, checked against the bundle) and writes it in.
pub fn layout(dir: &Path, from: Option<&Path>, seed: u64) -> Result<()> {
    let bundle = load_bundle(dir)?;
    let rows = bundle.corpus.rows();
    let layout = match from {
        Some(path) => parse_layout(&read(path)?, rows).with_context(|| format!("{} was refused", path.display()))?,
        None => compute_layout(&bundle.corpus.to_matrix(), seed)?,
    };
    add_layout_to_bundle(dir, &bundle.manifest, &layout)?;
    eprintln!("wrote the map of {rows} documents to {}", dir.join("layout.npy").display());
    Ok(())
}

/// `x,y;x,y;...` as the page's URL writes a selection.
pub fn parse_polygon(text: &str) -> Result<Vec<[f32; 2]>, String> {
    text.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (x, y) = pair.split_once(',').ok_or_else(|| format!("{pair:?}: expected X,Y"))?;
            let parse = |v: &str| v.trim().parse::<f32>().map_err(|_| format!("{pair:?}: {v:?} is not a number"));
            Ok([parse(x)?, parse(y)?])
        })
        .collect()
}

/// Prints the documents inside `polygon` and the `top` features most over-represented in them.
pub fn select(dir: &Path, polygon: &[[f32; 2]], top: usize, json: bool) -> Result<()> {
    let bundle = load_bundle(dir)?;
    let rows = bundle.corpus.rows();
    let Some(bytes) = bundle.layout.as_deref() else {
        bail!("{} has no map (layout.npy); add one with `saescope layout --bundle {}`", dir.display(), dir.display())
    };
    let layout = parse_layout(bytes, rows).context("layout.npy was refused")?;
    let codes = bundle.codes.as_ref().context("the bundle has no codes to compare features with")?;
    let docs = inside_polygon(&layout, polygon)?;
    if docs.is_empty() {
        bail!("no documents inside the selection");
    }
    let enrichment = enrich(codes, &docs, top)?;
    if json {
        let out = serde_json::json!({ "documents": docs, "enrichment": enrichment });
        return saescope_build::out!("{out}");
    }
    let titles = bundle.documents.as_deref().map(parse_documents).transpose()?.unwrap_or_default();
    saescope_build::out!("{} of {rows} documents selected, e.g.:", docs.len())?;
    for &d in docs.iter().take(5) {
        let title = titles.get(d as usize).map_or("", |t| t.title.as_str());
        saescope_build::out!("  {d:>7}  {title}")?;
    }
    saescope_build::out!(
        "{} features tested; over-represented (log-odds with Haldane's correction, 95% lower bound, Benjamini-Hochberg q):",
        enrichment.tested
    )?;
    saescope_build::out!("  feature  inside  outside  log-odds  lower      q")?;
    for f in &enrichment.features {
        saescope_build::out!(
            "  {:>7}  {:>5.1}%  {:>6.1}%  {:>8.2}  {:>5.2}  {:>.1e}{}",
            f.feature,
            100.0 * f.rate_inside,
            100.0 * f.rate_outside,
            f.log_odds,
            f.lower,
            f.q_value,
            if f.significant { " *" } else { "" }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygons_parse_like_the_url_writes_them() {
        assert_eq!(parse_polygon("1,2;3.5,-4;5,6").unwrap(), vec![[1.0, 2.0], [3.5, -4.0], [5.0, 6.0]]);
        assert!(parse_polygon("1,2;3").is_err());
        assert!(parse_polygon("1,x;3,4;5,6").is_err());
    }
}
