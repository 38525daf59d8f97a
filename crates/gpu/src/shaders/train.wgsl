// The training step's own kernels (see src/train.rs for the order they run in). The slot
// constants (scalars, counts, column statistics), MASKED and NONE are prepended by the host
// from its own definitions. Entry points share binding numbers; each uses only its own
// variables, so each pipeline's layout (kernels::Kernel::layout) holds just those. The host
// declares each params struct in src/params.rs; src/contracts.rs checks that they agree.
//
// No float atomics: sums are per-column loops or workgroup tree reductions; only integer
// counters use atomics.

const WG: u32 = 256u;
const MIN_POSITIVE: f32 = 1.17549435e-38;

var<workgroup> partial: array<f32, 256>;

// The sum of `v` over the workgroup's 256 threads, returned to every thread.
fn workgroup_sum(tid: u32, v: f32) -> f32 {
    partial[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            partial[tid] += partial[tid + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

// WGSL lets compilers assume no NaN or infinity, so look at the exponent bits instead.
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// Index of a workgroup in a 2-d grid (grids split past the 65535 groups per dimension).
fn group_index(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.y * groups.x + wid.x;
}

// ---- column_sums: stats[dst + c] += sum over rows of v, or of (v - mean_c)^2 when `square`
// (mean_c = stats[mean + c] * inv_rows, or 0 when mean == NONE). One thread per column.
struct ColumnSumParams {
    rows: u32,
    cols: u32,
    stride: u32,
    dst: u32,
    mean: u32,
    square: u32,
    inv_rows: f32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> cs: ColumnSumParams;
@group(0) @binding(1) var<storage, read> cs_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> cs_stats: array<f32>;

@compute @workgroup_size(256)
fn column_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= cs.cols) {
        return;
    }
    var mean = 0.0;
    if (cs.mean != NONE) {
        mean = cs_stats[cs.mean + c] * cs.inv_rows;
    }
    var acc = 0.0;
    for (var r = 0u; r < cs.rows; r++) {
        let v = cs_src[r * cs.stride + c];
        if (cs.square != 0u) {
            let dv = v - mean;
            acc = fma(dv, dv, acc);
        } else {
            acc += v;
        }
    }
    cs_stats[cs.dst + c] += acc;
}

// ---- residual: err = x_hat - x (err holds x_hat), and AuxK's error starts from it.
struct CountParams {
    count: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}
@group(0) @binding(0) var<uniform> rs: CountParams;
@group(0) @binding(1) var<storage, read> rs_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> rs_err: array<f32>;
@group(0) @binding(3) var<storage, read_write> rs_aux_err: array<f32>;

@compute @workgroup_size(256)
fn residual(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = group_index(wid, groups) * WG + lid.x;
    if (i >= rs.count) {
        return;
    }
    let e = rs_err[i] - rs_x[i];
    rs_err[i] = e;
    rs_aux_err[i] = e;
}

// ---- count_active: counts[slot] += number of active (value > 0) codes; with `mark`, also
// flags their latents as fired.
struct ActiveParams {
    rows: u32,
    k: u32,
    slot: u32,
    mark: u32,
}
@group(0) @binding(0) var<uniform> ca: ActiveParams;
@group(0) @binding(1) var<storage, read> ca_idx: array<u32>;
@group(0) @binding(2) var<storage, read> ca_val: array<f32>;
@group(0) @binding(3) var<storage, read_write> ca_counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> ca_fired: array<atomic<u32>>;

@compute @workgroup_size(64)
fn count_active(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    let r = gid.y;
    if (e >= ca.k || r >= ca.rows || ca_val[r * ca.k + e] <= 0.0) {
        return;
    }
    atomicAdd(&ca_counts[ca.slot], 1u);
    if (ca.mark != 0u) {
        atomicStore(&ca_fired[ca_idx[r * ca.k + e]], 1u);
    }
}

// ---- mask_live: pre-activations of live latents (since_fired < dead_steps) become MASKED,
// so the next top-k picks among dead latents only (AuxK). MASKED is finite so the radix
// select's key order stays exact.
struct MaskParams {
    rows: u32,
    n: u32,
    dead_steps: u32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> mk: MaskParams;
@group(0) @binding(1) var<storage, read_write> mk_values: array<f32>;
@group(0) @binding(2) var<storage, read> mk_since: array<u32>;

@compute @workgroup_size(256)
fn mask_live(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let r = gid.y;
    if (j >= mk.n || r >= mk.rows) {
        return;
    }
    if (mk_since[j] < mk.dead_steps) {
        mk_values[r * mk.n + j] = MASKED;
    }
}

// ---- scatter_codes: dense[r, j] += scalars[scale] * x for each active code (r, j) with j in
// [lo, hi), where x is the code's value, or (`with_dot`) the dot product of row r of `diff`
// with decoder row j: the gradient at the pre-activation. Rows select distinct latents, so
// no two threads of one dispatch touch the same element.
struct ScatterParams {
    rows: u32,
    k: u32,
    n: u32,
    d_in: u32,
    lo: u32,
    hi: u32,
    scale: u32,
    with_dot: u32,
}
@group(0) @binding(0) var<uniform> sc: ScatterParams;
@group(0) @binding(1) var<storage, read> sc_idx: array<u32>;
@group(0) @binding(2) var<storage, read> sc_val: array<f32>;
@group(0) @binding(3) var<storage, read> sc_diff: array<f32>;
@group(0) @binding(4) var<storage, read> sc_w_dec: array<f32>;
@group(0) @binding(5) var<storage, read> sc_scalars: array<f32>;
@group(0) @binding(6) var<storage, read_write> sc_dense: array<f32>;

@compute @workgroup_size(64)
fn scatter_codes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    let r = gid.y;
    if (e >= sc.k || r >= sc.rows) {
        return;
    }
    let j = sc_idx[r * sc.k + e];
    let v = sc_val[r * sc.k + e];
    if (v <= 0.0 || j < sc.lo || j >= sc.hi) {
        return;
    }
    var x = v;
    if (sc.with_dot != 0u) {
        x = 0.0;
        let w = (j - sc.lo) * sc.d_in;
        for (var i = 0u; i < sc.d_in; i++) {
            x = fma(sc_diff[r * sc.d_in + i], sc_w_dec[w + i], x);
        }
    }
    sc_dense[r * sc.n + j] += sc_scalars[sc.scale] * x;
}

// ---- grad_b_dec: g_b_dec -= W_enc g_b_enc over one latent block; the first block also adds
// g_main * sum_rows(err). One thread per input dimension.
struct BlockParams {
    d_in: u32,
    lo: u32,
    hi: u32,
    first: u32,
}
@group(0) @binding(0) var<uniform> gb: BlockParams;
@group(0) @binding(1) var<storage, read> gb_w_enc_t: array<f32>;
@group(0) @binding(2) var<storage, read> gb_g_b_enc: array<f32>;
@group(0) @binding(3) var<storage, read> gb_stats: array<f32>;
@group(0) @binding(4) var<storage, read> gb_scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> gb_g_b_dec: array<f32>;

@compute @workgroup_size(256)
fn grad_b_dec(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= gb.d_in) {
        return;
    }
    var through_encoder = 0.0;
    for (var j = gb.lo; j < gb.hi; j++) {
        through_encoder = fma(gb_w_enc_t[(j - gb.lo) * gb.d_in + i], gb_g_b_enc[j], through_encoder);
    }
    var g = gb_g_b_dec[i] - through_encoder;
    if (gb.first != 0u) {
        g += gb_scalars[G_MAIN] * gb_stats[E_SUM * gb.d_in + i];
    }
    gb_g_b_dec[i] = g;
}

// ---- project_decoder: removes from each decoder row's gradient its component along the row,
// and writes the latent's share of the squared gradient norm (decoder row, encoder row,
// encoder bias). One workgroup per latent of a block.
struct RowParams {
    d_in: u32,
    lo: u32,
    rows: u32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> pj: RowParams;
@group(0) @binding(1) var<storage, read> pj_w_dec: array<f32>;
@group(0) @binding(2) var<storage, read_write> pj_g_dec: array<f32>;
@group(0) @binding(3) var<storage, read> pj_g_enc_t: array<f32>;
@group(0) @binding(4) var<storage, read> pj_g_b_enc: array<f32>;
@group(0) @binding(5) var<storage, read_write> pj_norm_sq: array<f32>;

@compute @workgroup_size(256)
fn project_decoder(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = group_index(wid, groups);
    if (row >= pj.rows) {
        return;
    }
    let tid = lid.x;
    let base = row * pj.d_in;
    var along = 0.0;
    for (var i = tid; i < pj.d_in; i += WG) {
        along = fma(pj_g_dec[base + i], pj_w_dec[base + i], along);
    }
    along = workgroup_sum(tid, along);
    var sq = 0.0;
    for (var i = tid; i < pj.d_in; i += WG) {
        let g = pj_g_dec[base + i] - along * pj_w_dec[base + i];
        pj_g_dec[base + i] = g;
        let ge = pj_g_enc_t[base + i];
        sq += g * g + ge * ge;
    }
    sq = workgroup_sum(tid, sq);
    if (tid == 0u) {
        let gb = pj_g_b_enc[pj.lo + row];
        pj_norm_sq[pj.lo + row] = sq + gb * gb;
    }
}

// ---- renormalize_rows: decoder rows back to unit norm (when the step is being applied).
@group(0) @binding(0) var<uniform> rn: RowParams;
@group(0) @binding(1) var<storage, read_write> rn_w_dec: array<f32>;
@group(0) @binding(2) var<storage, read> rn_scalars: array<f32>;

@compute @workgroup_size(256)
fn renormalize_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = group_index(wid, groups);
    if (row >= rn.rows) {
        return;
    }
    let tid = lid.x;
    let base = row * rn.d_in;
    var sq = 0.0;
    for (var i = tid; i < rn.d_in; i += WG) {
        let w = rn_w_dec[base + i];
        sq = fma(w, w, sq);
    }
    let norm = sqrt(workgroup_sum(tid, sq));
    if (norm > 0.0 && rn_scalars[OK] != 0.0) {
        for (var i = tid; i < rn.d_in; i += WG) {
            rn_w_dec[base + i] /= norm;
        }
    }
}

// ---- finish_losses: the batch's losses from the column statistics, and the scales of the
// backward pass. One workgroup.
struct LossParams {
    d_in: u32,
    _p0: u32,
    _p1: u32,
    aux_coeff: f32,
}
@group(0) @binding(0) var<uniform> fl: LossParams;
@group(0) @binding(1) var<storage, read> fl_stats: array<f32>;
@group(0) @binding(2) var<storage, read> fl_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> fl_scalars: array<f32>;

fn stat_total(tid: u32, slot: u32) -> f32 {
    var acc = 0.0;
    for (var c = tid; c < fl.d_in; c += WG) {
        acc += fl_stats[slot * fl.d_in + c];
    }
    return workgroup_sum(tid, acc);
}

@compute @workgroup_size(256)
fn finish_losses(@builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.x;
    let denom = max(stat_total(tid, X_CSQ), MIN_POSITIVE);
    let aux_denom = max(stat_total(tid, E_CSQ), MIN_POSITIVE);
    let err_sq = stat_total(tid, E_SQ);
    let aux_err_sq = stat_total(tid, A_SQ);
    if (tid == 0u) {
        // AuxK counts only when some dead latent is active, as in the reference.
        let has_aux = fl_counts[AUX_ACTIVE] > 0u;
        let nmse = err_sq / denom;
        var aux_loss = 0.0;
        var g_aux = 0.0;
        if (has_aux) {
            aux_loss = aux_err_sq / aux_denom;
            g_aux = 2.0 * fl.aux_coeff / aux_denom;
        }
        fl_scalars[NMSE] = nmse;
        fl_scalars[AUX_LOSS] = aux_loss;
        fl_scalars[G_MAIN] = 2.0 / denom;
        fl_scalars[G_AUX] = g_aux;
        fl_scalars[OK] = select(0.0, 1.0, is_finite(nmse) && is_finite(aux_loss));
    }
}

// ---- finish_grad_norm: the global gradient norm and the clip factor. One workgroup.
struct NormParams {
    n: u32,
    d_in: u32,
    _p0: u32,
    clip_norm: f32,
}
@group(0) @binding(0) var<uniform> gn: NormParams;
@group(0) @binding(1) var<storage, read> gn_norm_sq: array<f32>;
@group(0) @binding(2) var<storage, read> gn_g_b_dec: array<f32>;
@group(0) @binding(3) var<storage, read_write> gn_scalars: array<f32>;

@compute @workgroup_size(256)
fn finish_grad_norm(@builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.x;
    var acc = 0.0;
    for (var j = tid; j < gn.n; j += WG) {
        acc += gn_norm_sq[j];
    }
    for (var i = tid; i < gn.d_in; i += WG) {
        let g = gn_g_b_dec[i];
        acc = fma(g, g, acc);
    }
    let norm = sqrt(workgroup_sum(tid, acc));
    if (tid == 0u) {
        gn_scalars[GRAD_NORM] = norm;
        gn_scalars[CLIP] = select(1.0, gn.clip_norm / norm, norm > gn.clip_norm);
    }
}

// ---- adam: one bias-corrected Adam update of clipped gradients (when the step is applied).
struct AdamParams {
    count: u32,
    lr: f32,
    bias1: f32,
    bias2: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    _p0: u32,
}
@group(0) @binding(0) var<uniform> ad: AdamParams;
@group(0) @binding(1) var<storage, read_write> ad_param: array<f32>;
@group(0) @binding(2) var<storage, read> ad_grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> ad_m: array<f32>;
@group(0) @binding(4) var<storage, read_write> ad_v: array<f32>;
@group(0) @binding(5) var<storage, read> ad_scalars: array<f32>;

@compute @workgroup_size(256)
fn adam(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = group_index(wid, groups) * WG + lid.x;
    if (i >= ad.count || ad_scalars[OK] == 0.0) {
        return;
    }
    let g = ad_grad[i] * ad_scalars[CLIP];
    let m = ad.beta1 * ad_m[i] + (1.0 - ad.beta1) * g;
    let v = ad.beta2 * ad_v[i] + (1.0 - ad.beta2) * g * g;
    ad_m[i] = m;
    ad_v[i] = v;
    ad_param[i] -= ad.lr * (m / ad.bias1) / (sqrt(v / ad.bias2) + ad.eps);
}

// ---- update_counters: counts the latents dead before this step, then (when the step is
// applied) resets the counters of fired latents and advances the others, saturating.
struct CounterParams {
    n: u32,
    dead_steps: u32,
    _p0: u32,
    _p1: u32,
}
@group(0) @binding(0) var<uniform> uc: CounterParams;
@group(0) @binding(1) var<storage, read_write> uc_since: array<u32>;
@group(0) @binding(2) var<storage, read> uc_fired: array<u32>;
@group(0) @binding(3) var<storage, read_write> uc_counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> uc_scalars: array<f32>;

@compute @workgroup_size(256)
fn update_counters(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= uc.n) {
        return;
    }
    let s = uc_since[j];
    if (s >= uc.dead_steps) {
        atomicAdd(&uc_counts[DEAD], 1u);
    }
    if (uc_scalars[OK] != 0.0) {
        var next = s;
        if (uc_fired[j] != 0u) {
            next = 0u;
        } else if (s != 0xffffffffu) {
            next = s + 1u;
        }
        uc_since[j] = next;
    }
}
