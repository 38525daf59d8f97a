//! Top-k SAE training with the recipe of arXiv 2408.00657 (after Gao et al. 2024).
//!
//! - Loss: normalised MSE `sum (x_hat - x)^2 / sum (x - mean_batch(x))^2` plus AuxK: the top
//!   `aux_k` pre-activations among dead latents (not fired for `dead_steps` steps) reconstruct
//!   the residual `x - x_hat` (held constant), normalised the same way, weighted `aux_coeff`.
//! - Decoder rows kept at unit norm: the gradient's component along each row is removed before
//!   the step and rows are renormalised after it.
//! - Init: `b_dec` = coordinate-wise median of a sample, decoder rows random unit vectors,
//!   `W_enc = W_dec^T`, `b_enc = 0`. Adam, global gradient-norm clip.
//! - Deterministic for a seed (ChaCha8; order of floating-point sums fixed).
//!
//! A whole step (forward, backward, clipping, Adam, renormalisation, dead-latent counters) is a
//! backend operation ([`crate::backend::TrainOps`]) on a device-resident [`TrainState`];
//! [`reference_step`] is its CPU reference (what [`crate::CpuBackend`] runs).
//! [`crate::fit::Trainer`] drives any backend: epochs, shuffling and statistics.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};
use crate::matrix::{normalize, Matrix};
use crate::metrics::centered_sum_sq;
use crate::rng::SeededRng;
use crate::sae::{check_embeddings, transpose, Sae};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub k: usize,
    pub latents: usize,
    pub lr: f32,
    pub batch: usize,
    pub epochs: usize,
    /// Steps without firing after which a latent counts as dead (default: one epoch of steps).
    pub dead_steps: Option<usize>,
    /// AuxK's k (default `2k`).
    pub aux_k: Option<usize>,
    pub aux_coeff: f32,
    pub clip_norm: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            k: 32,
            latents: 3072,
            lr: 1e-4,
            batch: 1024,
            epochs: 50,
            dead_steps: None,
            aux_k: None,
            aux_coeff: 1.0 / 32.0,
            clip_norm: 1.0,
            seed: 0,
        }
    }
}

/// Adam's constants, shared by the CPU reference and the GPU kernels.
pub const ADAM_BETA1: f32 = 0.9;
pub const ADAM_BETA2: f32 = 0.999;
pub const ADAM_EPS: f32 = 1e-8;

/// Adam's bias corrections `(1 - beta1^t, 1 - beta2^t)` for update number `step` (from 1).
pub fn adam_bias_corrections(step: u64) -> (f32, f32) {
    let t = step.min(i32::MAX as u64) as i32;
    (1.0 - ADAM_BETA1.powi(t), 1.0 - ADAM_BETA2.powi(t))
}

/// The factor that scales a gradient of norm `norm` down to `clip_norm` (1 when it is within).
pub fn clip_factor(norm: f32, clip_norm: f32) -> f32 {
    if norm > clip_norm {
        clip_norm / norm
    } else {
        1.0
    }
}

/// What one step measured (on the batch, before the update).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StepStats {
    pub loss: f64,
    pub nmse: f64,
    pub aux_loss: f64,
    /// Mean active latents per row.
    pub l0: f64,
    /// Fraction of latents dead (before this step's update of the counters).
    pub dead_fraction: f64,
    /// Norm of the gradient that is clipped: after removing each decoder row's parallel part.
    pub grad_norm: f64,
}

/// Gradients (or Adam moments), shaped like the SAE's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Grads {
    pub w_enc: Vec<f32>,
    pub b_enc: Vec<f32>,
    pub w_dec: Vec<f32>,
    pub b_dec: Vec<f32>,
}

impl Grads {
    pub fn zeros(sae: &Sae) -> Self {
        Self {
            w_enc: vec![0.0; sae.w_enc.len()],
            b_enc: vec![0.0; sae.d_sae],
            w_dec: vec![0.0; sae.w_dec.len()],
            b_dec: vec![0.0; sae.d_in],
        }
    }

    /// The four parts with their parameters' names (as [`Sae::named_parameters`]).
    pub fn parts(&self) -> [(&'static str, &[f32]); 4] {
        [("W_enc", &self.w_enc), ("b_enc", &self.b_enc), ("W_dec", &self.w_dec), ("b_dec", &self.b_dec)]
    }

    fn parts_mut(&mut self) -> [&mut Vec<f32>; 4] {
        [&mut self.w_enc, &mut self.b_enc, &mut self.w_dec, &mut self.b_dec]
    }

    fn norm(&self) -> f64 {
        self.parts().iter().flat_map(|(_, v)| v.iter()).map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt()
    }

    fn same_shape(&self, sae: &Sae) -> bool {
        self.parts().iter().zip(sae.named_parameters()).all(|((_, g), (_, p))| g.len() == p.len())
    }
}

/// One selected latent of one row: (latent, activation after ReLU).
type Selection = Vec<Vec<(u32, f32)>>;

/// The AuxK target: the main reconstruction's residual `x - x_hat`, held constant.
pub struct AuxTarget {
    pub residual: Vec<f32>,
    /// `sum |residual - mean_rows(residual)|^2`, AuxK's NMSE denominator.
    pub denom: f64,
}

/// Loss and gradients of the SAE on `batch` (the CPU reference of the training kernels).
/// `dead[j]` marks latents eligible for AuxK.
pub fn loss_and_grads(sae: &Sae, batch: &Matrix, dead: &[bool], config: &TrainConfig) -> Result<(StepStats, Grads)> {
    loss_and_grads_with(sae, batch, dead, config, None).map(|s| (s.stats, s.grads))
}

fn selections(codes: &SparseCodes) -> Selection {
    (0..codes.rows()).map(|r| codes.active(r).collect()).collect()
}

/// AuxK's k for a config and SAE.
pub fn aux_k(config: &TrainConfig, sae: &Sae) -> usize {
    config.aux_k.unwrap_or(2 * sae.k).min(sae.d_sae)
}

/// Everything the loss and its gradients give one training step.
pub struct StepOutput {
    /// The batch's statistics; `grad_norm` is left 0 here ([`reference_step`] sets it after
    /// the decoder projection, which this raw gradient has not had).
    pub stats: StepStats,
    pub grads: Grads,
    /// Latents active (value > 0) in some row of the batch.
    pub fired: Vec<bool>,
}

/// Loss and raw gradients with an explicit AuxK target, which is otherwise this batch's
/// residual (the finite-difference test holds it fixed, as the gradient does).
pub fn loss_and_grads_with(
    sae: &Sae,
    batch: &Matrix,
    dead: &[bool],
    config: &TrainConfig,
    aux_target: Option<&AuxTarget>,
) -> Result<StepOutput> {
    let aux_request = (config.aux_coeff > 0.0 && dead.iter().any(|&d| d)).then(|| (dead, aux_k(config, sae)));
    let (main, aux) = crate::sae::select(sae, batch, aux_request)?;
    let (b, d, n) = (batch.rows, sae.d_in, sae.d_sae);
    let selected = selections(&main);

    // Reconstruction and its error.
    let mut x_hat = Matrix::zeros(b, d);
    for (r, sel) in selected.iter().enumerate() {
        let row = x_hat.row_mut(r);
        row.copy_from_slice(&sae.b_dec);
        for &(j, v) in sel.iter().filter(|s| s.1 > 0.0) {
            row.iter_mut().zip(sae.decoder_row(j as usize)).for_each(|(o, w)| *o += v * w);
        }
    }
    let err: Vec<f32> = x_hat.data.iter().zip(&batch.data).map(|(h, x)| h - x).collect();
    let denom = centered_sum_sq(&batch.data, b, d);
    if denom == 0.0 {
        // Not clamped: 2 / MIN_POSITIVE is infinite in f32 and turns every parameter into NaN.
        return Err(Error::Invalid(format!(
            "a training batch of {b} rows has no spread (its rows are all equal): the normalised MSE is undefined"
        )));
    }
    let nmse = err.iter().map(|&e| (e as f64).powi(2)).sum::<f64>() / denom;

    // AuxK: the top `aux_k` pre-activations of dead latents, ReLU'd, reconstruct the residual.
    let aux_selected: Selection = match aux {
        Some(codes) => selections(&codes),
        None => vec![Vec::new(); b],
    };
    let own_target;
    let target = match aux_target {
        Some(t) => t,
        None => {
            let residual: Vec<f32> = err.iter().map(|&e| -e).collect();
            let denom = centered_sum_sq(&residual, b, d).max(f64::MIN_POSITIVE);
            own_target = AuxTarget { residual, denom };
            &own_target
        }
    };
    let mut aux_err = vec![0.0f32; b * d];
    for (r, sel) in aux_selected.iter().enumerate() {
        let row = &mut aux_err[r * d..(r + 1) * d];
        row.iter_mut().zip(&target.residual[r * d..(r + 1) * d]).for_each(|(a, res)| *a = -res);
        for &(j, v) in sel {
            row.iter_mut().zip(sae.decoder_row(j as usize)).for_each(|(o, w)| *o += v * w);
        }
    }
    let has_aux = aux_selected.iter().any(|s| !s.is_empty());
    let aux_loss = if has_aux { aux_err.iter().map(|&e| (e as f64).powi(2)).sum::<f64>() / target.denom } else { 0.0 };

    // Backward. d loss / d x_hat and d loss / d aux_hat:
    let g_main = (2.0 / denom) as f32;
    let g_aux = if has_aux { (2.0 * config.aux_coeff as f64 / target.denom) as f32 } else { 0.0 };
    let mut grads = Grads::zeros(sae);
    let mut d_pre: Vec<Vec<(u32, f32)>> = vec![Vec::new(); b];
    for r in 0..b {
        let e = &err[r * d..(r + 1) * d];
        let ea = &aux_err[r * d..(r + 1) * d];
        grads.b_dec.iter_mut().zip(e).for_each(|(g, &v)| *g += g_main * v);
        for (sel, scale, diff) in [(&selected[r], g_main, e), (&aux_selected[r], g_aux, ea)] {
            for &(j, v) in sel.iter().filter(|s| s.1 > 0.0) {
                let w = sae.decoder_row(j as usize);
                let gw = &mut grads.w_dec[j as usize * d..(j as usize + 1) * d];
                let mut dz = 0.0f32;
                for ((g, &dv), &wv) in gw.iter_mut().zip(diff).zip(w) {
                    *g += scale * v * dv;
                    dz += dv * wv;
                }
                d_pre[r].push((j, scale * dz));
            }
        }
    }
    // Through the encoder: pre = (x - b_dec) W_enc + b_enc. Work latent-major (W_enc^T) so
    // each selected latent touches one contiguous row.
    let w_enc_t = transpose(&sae.w_enc, d, n);
    let mut g_enc_t = vec![0.0f32; n * d];
    for (r, list) in d_pre.iter().enumerate() {
        let x = batch.row(r);
        for &(j, g) in list {
            let j = j as usize;
            grads.b_enc[j] += g;
            let gw = &mut g_enc_t[j * d..(j + 1) * d];
            let w = &w_enc_t[j * d..(j + 1) * d];
            for ((((gw, &w), &xv), &bd), gb) in gw.iter_mut().zip(w).zip(x).zip(&sae.b_dec).zip(grads.b_dec.iter_mut())
            {
                *gw += (xv - bd) * g;
                *gb -= w * g;
            }
        }
    }
    grads.w_enc = transpose(&g_enc_t, n, d);
    let active: usize = selected.iter().map(|s| s.iter().filter(|x| x.1 > 0.0).count()).sum();
    let stats = StepStats {
        loss: nmse + config.aux_coeff as f64 * aux_loss,
        nmse,
        aux_loss,
        l0: active as f64 / b.max(1) as f64,
        dead_fraction: dead.iter().filter(|&&x| x).count() as f64 / n as f64,
        grad_norm: 0.0,
    };
    let mut fired = vec![false; n];
    selected.iter().flatten().filter(|s| s.1 > 0.0).for_each(|&(j, _)| fired[j as usize] = true);
    Ok(StepOutput { stats, grads, fired })
}

/// Coordinate-wise median of up to `max_rows` rows spread over `data`.
pub fn coordinate_median(data: &Matrix, max_rows: usize) -> Vec<f32> {
    let step = (data.rows / max_rows.max(1)).max(1);
    let rows: Vec<usize> = (0..data.rows).step_by(step).collect();
    (0..data.cols)
        .map(|c| {
            let mut col: Vec<f32> = rows.iter().map(|&r| data.row(r)[c]).collect();
            let mid = col.len() / 2;
            col.select_nth_unstable_by(mid, f32::total_cmp);
            col[mid]
        })
        .collect()
}

/// Everything training carries from step to step: what a backend keeps resident during
/// training, uploads with [`Backend::train_begin`] and reads back with [`Backend::train_read`]
/// (so a run can also be checkpointed and resumed).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub config: TrainConfig,
    pub sae: Sae,
    /// Adam's first and second moments.
    pub adam_m: Grads,
    pub adam_v: Grads,
    /// Adam updates made so far.
    pub step: u64,
    /// Steps since each latent last fired (saturating).
    pub since_fired: Vec<u32>,
    /// A latent is dead once `since_fired >= dead_steps`.
    pub dead_steps: u32,
}

impl TrainState {
    /// The paper's initialisation from the training data (the median needs it), drawing the
    /// decoder from `rng`.
    pub fn init(data: &Matrix, config: TrainConfig, rng: &mut SeededRng) -> Result<Self> {
        let (d, n) = (data.cols, config.latents);
        if config.k == 0 || config.k > n || config.batch < 2 || data.rows == 0 {
            return Err(Error::Invalid(format!(
                "cannot train k={} of {n} latents with batch {} on {} rows",
                config.k, config.batch, data.rows
            )));
        }
        crate::limits::check("latents", n, crate::limits::MAX_LATENTS)?;
        crate::limits::check("batch rows", config.batch, crate::limits::MAX_BATCH)?;
        crate::limits::check("epochs", config.epochs, crate::limits::MAX_EPOCHS)?;
        crate::limits::check("SAE weights (d_in x latents)", d.saturating_mul(n), crate::limits::MAX_WEIGHTS)?;
        data.check_finite("training embeddings")?;
        // The loss is normalised by the data's spread around its mean: with one row, or rows
        // that are all equal, it is 0/0 and every gradient would be NaN.
        if data.rows < 2 || crate::metrics::centered_sum_sq(&data.data, data.rows, d) == 0.0 {
            return Err(Error::Invalid(format!(
                "cannot train on {} row{} that {}: the normalised MSE needs rows that differ",
                data.rows,
                if data.rows == 1 { "" } else { "s" },
                if data.rows == 1 { "has no spread" } else { "are all equal" }
            )));
        }
        let mut w_dec = Matrix::zeros(n, d);
        for j in 0..n {
            let row = w_dec.row_mut(j);
            row.iter_mut().for_each(|v| *v = rng.normal());
            normalize(row);
        }
        let w_enc = Matrix::new(d, n, transpose(&w_dec.data, n, d))?;
        let sae = Sae::new(config.k, w_enc, vec![0.0; n], w_dec, coordinate_median(data, 10_000))?;
        let steps_per_epoch = crate::fit::steps_per_epoch(data.rows, config.batch);
        let dead_steps = config.dead_steps.unwrap_or(steps_per_epoch).clamp(1, u32::MAX as usize) as u32;
        Self::fresh(sae, config, dead_steps)
    }

    /// A state that starts training `sae` (zero moments, no latent dead).
    pub fn fresh(sae: Sae, config: TrainConfig, dead_steps: u32) -> Result<Self> {
        let zeros = Grads::zeros(&sae);
        let state = Self {
            config,
            since_fired: vec![0; sae.d_sae],
            adam_m: zeros.clone(),
            adam_v: zeros,
            sae,
            step: 0,
            dead_steps,
        };
        state.validate()?;
        Ok(state)
    }

    /// Errors unless the parts agree in shape and the settings can be trained with.
    pub fn validate(&self) -> Result<()> {
        let sae = &self.sae;
        if !self.adam_m.same_shape(sae) || !self.adam_v.same_shape(sae) || self.since_fired.len() != sae.d_sae {
            return Err(Error::Shape(format!(
                "training state for a {}x{} SAE has moments or counters of another shape",
                sae.d_in, sae.d_sae
            )));
        }
        let c = &self.config;
        let usable = c.lr.is_finite()
            && c.lr > 0.0
            && c.aux_coeff.is_finite()
            && c.aux_coeff >= 0.0
            && c.clip_norm > 0.0
            && c.aux_k != Some(0);
        if self.dead_steps == 0 || c.batch == 0 || !usable {
            return Err(Error::Invalid(format!(
                "training needs lr > 0, aux_coeff >= 0, clip_norm > 0, aux_k >= 1, batch >= 1 and dead_steps >= 1; got lr={}, aux_coeff={}, clip_norm={}, aux_k={:?}, batch={}, dead_steps={}",
                c.lr, c.aux_coeff, c.clip_norm, c.aux_k, c.batch, self.dead_steps
            )));
        }
        Ok(())
    }

    pub fn aux_k(&self) -> usize {
        aux_k(&self.config, &self.sae)
    }

    pub fn dead(&self) -> Vec<bool> {
        self.since_fired.iter().map(|&s| s >= self.dead_steps).collect()
    }

    pub fn dead_fraction(&self) -> f64 {
        self.dead().iter().filter(|&&d| d).count() as f64 / self.sae.d_sae.max(1) as f64
    }
}

/// Errors unless `batch` has rows, the SAE's width and only finite values.
pub fn check_batch(batch: &Matrix, d_in: usize) -> Result<()> {
    if batch.rows == 0 {
        return Err(Error::Invalid("a training batch needs at least one row".into()));
    }
    check_embeddings(batch, d_in)
}

/// One training step on the CPU: loss and gradients, the decoder projection, the global
/// gradient-norm clip, Adam, decoder renormalisation and the dead-latent counters. The
/// reference every backend's `train_step` is held to. On a non-finite loss the state is left
/// as it was.
pub fn reference_step(state: &mut TrainState, batch: &Matrix) -> Result<StepStats> {
    check_batch(batch, state.sae.d_in)?;
    let dead = state.dead();
    let StepOutput { mut stats, mut grads, fired } =
        loss_and_grads_with(&state.sae, batch, &dead, &state.config, None)?;
    if !stats.loss.is_finite() {
        return Err(Error::NonFinite(format!("training loss became {} at step {}", stats.loss, state.step + 1)));
    }
    let sae = &mut state.sae;
    let d = sae.d_in;
    // Keep decoder rows on the unit sphere: drop the gradient along each row.
    for j in 0..sae.d_sae {
        let w = &sae.w_dec[j * d..(j + 1) * d];
        let g = &mut grads.w_dec[j * d..(j + 1) * d];
        let along: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
        g.iter_mut().zip(w).for_each(|(gv, wv)| *gv -= along * wv);
    }
    stats.grad_norm = grads.norm();
    let clip = clip_factor(stats.grad_norm as f32, state.config.clip_norm);
    state.step += 1;
    let (bias1, bias2) = adam_bias_corrections(state.step);
    let lr = state.config.lr;
    let params = [&mut sae.w_enc, &mut sae.b_enc, &mut sae.w_dec, &mut sae.b_dec];
    for (((p, g), m), v) in
        params.into_iter().zip(grads.parts_mut()).zip(state.adam_m.parts_mut()).zip(state.adam_v.parts_mut())
    {
        for (((pv, gv), mv), vv) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = gv * clip;
            *mv = ADAM_BETA1 * *mv + (1.0 - ADAM_BETA1) * g;
            *vv = ADAM_BETA2 * *vv + (1.0 - ADAM_BETA2) * g * g;
            *pv -= lr * (*mv / bias1) / ((*vv / bias2).sqrt() + ADAM_EPS);
        }
    }
    for j in 0..sae.d_sae {
        normalize(&mut sae.w_dec[j * d..(j + 1) * d]);
    }
    state.since_fired.iter_mut().zip(&fired).for_each(|(s, &f)| *s = if f { 0 } else { s.saturating_add(1) });
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Trainer;
    use crate::synth::PlantedData;
    use crate::{block_on_ready, CpuBackend};

    /// A trainer on the CPU reference, from the paper's initialisation.
    fn cpu_trainer(data: &Matrix, config: TrainConfig) -> Trainer<'static, CpuBackend> {
        block_on_ready(Trainer::new(&CpuBackend, data, config)).unwrap()
    }

    /// A CPU trainer whose first `latents` latents start starved (see [`shrink_encoder`]).
    fn starved_trainer(data: &Matrix, config: TrainConfig, latents: usize) -> Trainer<'static, CpuBackend> {
        let mut rng = SeededRng::new(config.seed);
        let mut state = TrainState::init(data, config, &mut rng).unwrap();
        shrink_encoder(&mut state.sae, latents);
        block_on_ready(Trainer::start(&CpuBackend, &state, rng)).unwrap()
    }

    fn epoch(t: &mut Trainer<'static, CpuBackend>, data: &Matrix) -> StepStats {
        block_on_ready(t.epoch(data, |_| {})).unwrap()
    }

    fn sae_of(t: &Trainer<'static, CpuBackend>) -> Sae {
        block_on_ready(t.state()).unwrap().sae
    }

    fn tiny() -> (Sae, Matrix, TrainConfig) {
        let mut rng = SeededRng::new(4);
        let data = Matrix::new(6, 5, (0..30).map(|_| rng.normal()).collect()).unwrap();
        let config = TrainConfig { k: 2, latents: 8, batch: 6, aux_k: Some(3), aux_coeff: 0.5, ..Default::default() };
        let mut sae = TrainState::init(&data, config.clone(), &mut SeededRng::new(0)).unwrap().sae;
        // Non-trivial biases, so their gradients are exercised.
        sae.b_enc.iter_mut().enumerate().for_each(|(i, b)| *b = 0.05 * i as f32);
        (sae, data, config)
    }

    /// Loss as a function of the parameters with the AuxK target frozen, for finite differences.
    fn loss_at(sae: &Sae, data: &Matrix, dead: &[bool], config: &TrainConfig, target: &AuxTarget) -> f64 {
        loss_and_grads_with(sae, data, dead, config, Some(target)).unwrap().stats.loss
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (sae, data, config) = tiny();
        let dead: Vec<bool> = (0..8).map(|j| j % 2 == 0).collect();
        let (stats, grads) = loss_and_grads(&sae, &data, &dead, &config).unwrap();
        assert!(stats.aux_loss > 0.0, "the case must exercise AuxK");
        let x_hat = sae.decode(&sae.encode(&data).unwrap()).unwrap();
        let residual: Vec<f32> = data.data.iter().zip(&x_hat.data).map(|(x, h)| x - h).collect();
        let target = AuxTarget { denom: centered_sum_sq(&residual, data.rows, data.cols), residual };
        let h = 1e-3f32;
        let mut checked = 0;
        let mut worst = 0.0f64;
        for (name, idx_count) in [("w_enc", sae.w_enc.len()), ("b_enc", 8), ("w_dec", sae.w_dec.len()), ("b_dec", 5)] {
            for i in 0..idx_count {
                let field = |s: &mut Sae| -> *mut f32 {
                    match name {
                        "w_enc" => &mut s.w_enc[i],
                        "b_enc" => &mut s.b_enc[i],
                        "w_dec" => &mut s.w_dec[i],
                        _ => &mut s.b_dec[i],
                    }
                };
                let (mut plus, mut minus) = (sae.clone(), sae.clone());
                // SAFETY: each pointer targets a live element of its own clone.
                unsafe {
                    *field(&mut plus) += h;
                    *field(&mut minus) -= h;
                }
                let numeric = (loss_at(&plus, &data, &dead, &config, &target)
                    - loss_at(&minus, &data, &dead, &config, &target))
                    / (2.0 * h as f64);
                let analytic = match name {
                    "w_enc" => grads.w_enc[i],
                    "b_enc" => grads.b_enc[i],
                    "w_dec" => grads.w_dec[i],
                    _ => grads.b_dec[i],
                } as f64;
                worst = worst.max((numeric - analytic).abs() / (1e-2 + analytic.abs()));
                checked += 1;
            }
        }
        assert!(checked > 80);
        assert!(worst < 2e-2, "largest relative gradient error {worst}");
    }

    #[test]
    fn data_without_spread_is_refused_and_a_last_single_row_batch_is_skipped() {
        // Defect 10: one row, or constant data, trained "fine" and wrote b_dec = NaN.
        let config = TrainConfig { k: 2, latents: 8, batch: 4, ..Default::default() };
        for (rows, needle) in [(1, "1 row that has no spread"), (5, "5 rows that are all equal")] {
            let same = Matrix::new(rows, 3, [0.5f32, -1.0, 2.0].repeat(rows)).unwrap();
            let err = TrainState::init(&same, config.clone(), &mut SeededRng::new(0)).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let (sae, mut data, config) = tiny();
        data.data.copy_within(0..5, 5);
        let two_equal = data.slice_rows(0, 2);
        let err = loss_and_grads(&sae, &two_equal, &[false; 8], &config).unwrap_err().to_string();
        assert!(err.contains("no spread"), "{err}");
        // 9 rows in batches of 4: the epoch is 4 + 4 rows, never a batch of 1.
        assert_eq!((crate::fit::rows_per_epoch(9, 4), crate::fit::steps_per_epoch(9, 4)), (8, 2));
        assert_eq!(crate::fit::steps_per_epoch(10, 4), 3);
        let data = PlantedData::generate(16, 24, 3, 9, 9).embeddings;
        let mut t = cpu_trainer(&data, TrainConfig { k: 3, latents: 24, batch: 4, lr: 1e-2, ..Default::default() });
        epoch(&mut t, &data);
        let sae = sae_of(&t);
        assert!(sae.named_parameters().iter().all(|(_, p)| p.iter().all(|v| v.is_finite())));
    }

    #[test]
    fn decoder_rows_stay_unit_norm() {
        let data = PlantedData::generate(16, 24, 3, 200, 9).embeddings;
        let mut t = cpu_trainer(&data, TrainConfig { k: 3, latents: 24, batch: 50, lr: 1e-2, ..Default::default() });
        for _ in 0..3 {
            epoch(&mut t, &data);
        }
        let r = sae_of(&t).report();
        assert!((r.decoder_norm_min - 1.0).abs() < 1e-5 && (r.decoder_norm_max - 1.0).abs() < 1e-5, "{r:?}");
    }

    #[test]
    fn recovers_a_planted_dictionary() {
        let planted = PlantedData::generate(32, 48, 3, 6000, 5);
        let config = TrainConfig { k: 3, latents: 64, batch: 256, lr: 3e-3, epochs: 30, seed: 1, ..Default::default() };
        let mut t = cpu_trainer(&planted.embeddings, config.clone());
        let mut last = StepStats::default();
        for _ in 0..config.epochs {
            last = epoch(&mut t, &planted.embeddings);
        }
        let sae = sae_of(&t);
        let truth = &planted.sae;
        let recovered = (0..truth.d_sae)
            .filter(|&a| {
                let atom = truth.decoder_row(a);
                (0..sae.d_sae).any(|j| crate::matrix::dot(atom, sae.decoder_row(j)) >= 0.9)
            })
            .count();
        assert!(recovered * 10 >= truth.d_sae * 9, "recovered {recovered}/{} atoms; last epoch {last:?}", truth.d_sae);
    }

    #[test]
    fn auxk_revives_latents_that_start_dead() {
        let planted = PlantedData::generate(32, 48, 3, 3000, 6);
        let data = &planted.embeddings;
        let config =
            TrainConfig { k: 3, latents: 64, batch: 250, lr: 3e-3, dead_steps: Some(2), seed: 2, ..Default::default() };
        // Starve half the latents: shrunken encoder columns never win a top-k place, though
        // their pre-activations stay positive often enough for AuxK to train them.
        let mut t = starved_trainer(data, config.clone(), 32);
        let fired_at_start = fired_latents(&block_on_ready(t.state()).unwrap().sae, data);
        for _ in 0..15 {
            epoch(&mut t, data);
        }
        let fired_after = fired_latents(&sae_of(&t), data);
        let revived = (0..32).filter(|&j| !fired_at_start[j] && fired_after[j]).count();
        assert!(fired_at_start[..32].iter().all(|&f| !f));
        assert!(revived >= 8, "AuxK revived only {revived} of 32 dead latents");

        let mut without = starved_trainer(data, TrainConfig { aux_coeff: 0.0, ..config }, 32);
        for _ in 0..15 {
            epoch(&mut without, data);
        }
        let fired_without = fired_latents(&sae_of(&without), data);
        let revived_without = (0..32).filter(|&j| fired_without[j]).count();
        assert!(revived_without < revived, "without AuxK {revived_without} revived, with {revived}");
    }

    fn shrink_encoder(sae: &mut Sae, latents: usize) {
        for i in 0..sae.d_in {
            for j in 0..latents {
                sae.w_enc[i * sae.d_sae + j] *= 0.05;
            }
        }
    }

    fn fired_latents(sae: &Sae, data: &Matrix) -> Vec<bool> {
        let codes = sae.encode(data).unwrap();
        let mut fired = vec![false; sae.d_sae];
        (0..codes.rows()).for_each(|r| codes.active(r).for_each(|(j, _)| fired[j as usize] = true));
        fired
    }

    #[test]
    fn same_seed_same_model() {
        let data = PlantedData::generate(16, 24, 3, 300, 9).embeddings;
        let cfg = TrainConfig { k: 3, latents: 24, batch: 64, lr: 1e-3, seed: 3, ..Default::default() };
        let run = || {
            let mut t = cpu_trainer(&data, cfg.clone());
            epoch(&mut t, &data);
            block_on_ready(t.state()).unwrap()
        };
        assert_eq!(run(), run());
    }
}
