//! `saescope eval steering`: the paper's steering evaluation on a bundle, with the rewrite
//! baseline, printed as a table and drawn as an SVG chart. The protocol is
//! `saescope_interp::steer_eval`; this file reads files, embeds texts and draws.

use crate::steer_cmd::bundle_embedder;
use anyhow::{bail, Context, Result};
use saescope_build::files::read;
use saescope_core::Matrix;
use saescope_interp::catalog::Catalog;
use saescope_interp::steer_eval::{self, Direction, EvalConfig, EvalCorpus, Judge, Point, SteeringEval};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JudgeChoice {
    LabelEmbedding,
    Codes,
    Both,
}

pub struct SteeringArgs {
    pub bundle: PathBuf,
    pub queries: PathBuf,
    pub judge: JudgeChoice,
    pub svg: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub seed: u64,
}

pub fn steering(args: SteeringArgs) -> Result<()> {
    let bundle = saescope_build::files::load_bundle(&args.bundle)?;
    let catalog = Catalog::of_bundle(&bundle)?;
    let codes = bundle.codes.as_ref().context("the bundle has no codes (the codes judge counts firing documents)")?;
    let clean: Vec<u32> = catalog.labels.iter().filter(|l| l.clean).map(|l| l.index).collect();
    if clean.len() < 5 {
        bail!("{} has {} clean features; the protocol needs at least 5", args.bundle.display(), clean.len());
    }
    let texts: Vec<String> = String::from_utf8(read(&args.queries)?)
        .with_context(|| format!("{} is not UTF-8", args.queries.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if texts.is_empty() {
        bail!("{} holds no queries (one per line)", args.queries.display());
    }
    let embedder = bundle_embedder(&args.bundle, &bundle)?;
    let embed = |texts: &[String]| -> Result<Matrix> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(embedder.embed(&refs)?)
    };
    let label = |f: u32| crate::steer_cmd::label_of(&catalog, f);
    let label_embeddings = embed(&clean.iter().map(|&f| label(f)).collect::<Vec<_>>())?;
    let queries = embed(&texts)?;
    let setup = EvalCorpus {
        sae: &bundle.sae,
        corpus: &bundle.corpus,
        codes,
        clean: &clean,
        label_embeddings: &label_embeddings,
    };
    let config = EvalConfig { seed: args.seed, ..Default::default() };
    let trials = steer_eval::trials(&setup, &queries, &config)?;
    let rewrites = embed(&trials.iter().map(|t| format!("{} {}", texts[t.query], label(t.up()))).collect::<Vec<_>>())?;
    let eval = steer_eval::evaluate(&setup, &queries, &trials, &rewrites, &Direction::ALL, &config)?;
    print_table(&eval, args.judge)?;
    if let Some(path) = &args.svg {
        saescope_build::files::write(path, chart(&eval, args.judge).as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.json {
        saescope_build::files::write(path, &serde_json::to_vec_pretty(&eval)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn print_table(eval: &SteeringEval, judge: JudgeChoice) -> Result<()> {
    saescope_build::out!(
        "{} queries, {} with an active clean feature (trials); accuracy = the judge picks the steered feature among 5",
        eval.queries,
        eval.trials.len()
    )?;
    let columns = match judge {
        JudgeChoice::LabelEmbedding => Judge::LabelEmbedding.name(),
        JudgeChoice::Codes => Judge::Codes.name(),
        JudgeChoice::Both => "label-embedding judge · codes judge",
    };
    saescope_build::out!("{:<24} {:<5} {:>7} {:>11}   {columns}", "method", "steer", "target", "mean cosine")?;
    for p in &eval.points {
        let target = p.target.map_or("rewrite".to_owned(), |t| format!("{t:.2}"));
        saescope_build::out!(
            "{:<24} {:<5} {:>7} {:>11.3}   {}",
            p.method,
            p.steer,
            target,
            p.mean_cosine,
            accuracies(p, judge)
        )?;
    }
    Ok(())
}

fn accuracies(p: &Point, judge: JudgeChoice) -> String {
    match judge {
        JudgeChoice::LabelEmbedding => format!("{:.3}", p.accuracy(Judge::LabelEmbedding)),
        JudgeChoice::Codes => format!("{:.3}", p.accuracy(Judge::Codes)),
        JudgeChoice::Both => format!("{:.3} · {:.3}", p.accuracy(Judge::LabelEmbedding), p.accuracy(Judge::Codes)),
    }
}

const COLOURS: [&str; 8] = ["#1f77b4", "#8c564b", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#d62728", "#7f7f7f"];

/// Accuracy against cosine to the query, one panel per judge: a line per method and direction
/// over the sweep (solid up, dashed down), the rewrite baseline as a ring.
pub fn chart(eval: &SteeringEval, judge: JudgeChoice) -> String {
    let judges: Vec<Judge> = match judge {
        JudgeChoice::Both => vec![Judge::LabelEmbedding, Judge::Codes],
        JudgeChoice::LabelEmbedding => vec![Judge::LabelEmbedding],
        JudgeChoice::Codes => vec![Judge::Codes],
    };
    let (panel_w, panel_h, margin) = (360.0, 260.0, 48.0);
    let width = judges.len() as f64 * (panel_w + margin) + margin;
    let height = panel_h + 2.0 * margin + 100.0;
    let cosines: Vec<f64> = eval.points.iter().map(|p| p.mean_cosine).collect();
    let lo = cosines.iter().copied().fold(1.0, f64::min).min(0.95) - 0.02;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let methods: Vec<&str> = {
        let mut m: Vec<&str> = eval.points.iter().map(|p| p.method.as_str()).filter(|m| *m != "rewrite").collect();
        m.dedup();
        m
    };
    for (panel, &judge) in judges.iter().enumerate() {
        let (name, accuracy) = (judge.name(), |p: &Point| p.accuracy(judge));
        let x0 = margin + panel as f64 * (panel_w + margin);
        let y0 = margin;
        let x = |c: f64| x0 + (1.0 - c) / (1.0 - lo) * panel_w;
        let y = |a: f64| y0 + (1.0 - a) * panel_h;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{name}</text>",
            x0 + panel_w / 2.0,
            y0 - 14.0
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{panel_w}\" height=\"{panel_h}\" fill=\"none\" stroke=\"#999\"/>"
        );
        for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let (right, at) = (x0 + panel_w, y(tick));
            let _ = writeln!(svg, "<line x1=\"{x0}\" x2=\"{right}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.2}</text>", x0 - 4.0, at + 4.0);
        }
        let mut c = 1.0;
        while c >= lo {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{c:.1}</text>",
                x(c),
                y0 + panel_h + 14.0
            );
            c -= 0.1;
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cosine of the steered query to the query</text>",
            x0 + panel_w / 2.0,
            y0 + panel_h + 30.0
        );
        if panel == 0 {
            let _ = writeln!(svg, "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">accuracy (picks the steered feature of 5)</text>", x0 - 34.0, y0 + panel_h / 2.0);
        }
        for (m, method) in methods.iter().enumerate() {
            for (steer, dash) in [("up", ""), ("down", " stroke-dasharray=\"4 3\"")] {
                let mut line: Vec<&Point> = eval
                    .points
                    .iter()
                    .filter(|p| p.method == *method && p.steer == steer && p.target.is_some())
                    .collect();
                line.sort_by(|a, b| b.mean_cosine.total_cmp(&a.mean_cosine));
                let path: Vec<String> =
                    line.iter().map(|p| format!("{:.1},{:.1}", x(p.mean_cosine), y(accuracy(p)))).collect();
                // The page's default stands out.
                let width = if *method == "concept" { 3.2 } else { 1.6 };
                let _ = writeln!(
                    svg,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"{dash}/>",
                    path.join(" "),
                    COLOURS[m % COLOURS.len()]
                );
            }
        }
        for p in eval.points.iter().filter(|p| p.method == "rewrite") {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"none\" stroke=\"black\" stroke-width=\"2\"/>",
                x(p.mean_cosine),
                y(accuracy(p))
            );
        }
    }
    let mut legend_y = margin + panel_h + 52.0;
    let mut lx = margin;
    for (m, method) in methods.iter().enumerate() {
        if lx + 40.0 + 7.0 * method.len() as f64 > width - margin {
            (lx, legend_y) = (margin, legend_y + 18.0);
        }
        let _ = writeln!(svg, "<line x1=\"{lx}\" x2=\"{}\" y1=\"{legend_y}\" y2=\"{legend_y}\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{method}</text>", lx + 18.0, COLOURS[m % COLOURS.len()], lx + 22.0, legend_y + 4.0);
        lx += 40.0 + 7.0 * method.len() as f64;
    }
    if lx + 150.0 > width - margin {
        (lx, legend_y) = (margin, legend_y + 18.0);
    }
    let _ = writeln!(svg, "<circle cx=\"{}\" cy=\"{legend_y}\" r=\"5\" fill=\"none\" stroke=\"black\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">rewrite (up only)</text>", lx + 6.0, lx + 16.0, legend_y + 4.0);
    let _ = writeln!(
        svg,
        "<text x=\"{margin}\" y=\"{}\">solid: steering up · dashed: steering down · {} trials</text>",
        legend_y + 20.0,
        eval.trials.len()
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(method: &str, steer: &'static str, target: Option<f32>, cosine: f64, accuracy: f64) -> Point {
        Point {
            method: method.into(),
            steer,
            target,
            mean_cosine: cosine,
            accuracy_label_embedding: accuracy,
            accuracy_codes: accuracy / 2.0,
        }
    }

    #[test]
    fn the_chart_draws_a_line_per_method_and_direction_and_the_rewrite_per_judge() {
        let eval = SteeringEval {
            queries: 2,
            trials: vec![],
            points: vec![
                point("rewrite", "up", None, 0.85, 0.8),
                point("decoder", "up", Some(0.9), 0.9, 0.5),
                point("decoder", "up", Some(0.8), 0.8, 0.7),
                point("decoder", "down", Some(0.9), 0.9, 0.6),
                point("decoder", "up", None, 0.85, 0.6),
                point("concept", "up", Some(0.9), 0.9, 0.7),
                point("concept", "down", Some(0.9), 0.9, 0.8),
            ],
        };
        let both = chart(&eval, JudgeChoice::Both);
        assert_eq!(both.matches("<polyline").count(), 2 * 2 * 2, "2 methods x up/down x 2 judges");
        assert_eq!(both.matches("<circle").count(), 2 + 1, "the rewrite in each panel, and in the legend");
        assert!(both.contains("codes judge") && both.contains("label-embedding judge"));
        let one = chart(&eval, JudgeChoice::Codes);
        assert_eq!(one.matches("<polyline").count(), 4);
        assert!(!one.contains("label-embedding judge"));
        // The matched point (target None) is not on the sweep's line: 2 points on decoder's up line.
        let decoder_up = both.lines().find(|l| l.starts_with("<polyline")).unwrap();
        assert_eq!(decoder_up.split(' ').filter(|p| p.contains(',')).count(), 2, "{decoder_up}");
        assert!(print_table(&eval, JudgeChoice::Both).is_ok());
    }
}
