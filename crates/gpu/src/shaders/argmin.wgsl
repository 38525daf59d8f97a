// k-means assignment from dot products: for each point (a column of dots [clusters, points]),
// the centroid with the smallest distance. Euclidean: |x|^2 - 2 x.c + |c|^2;
// cosine: 1 - x.c / |x| (centroids are unit norm). Ties go to the lower centroid index.

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct ArgminParams {
    points: u32,
    clusters: u32,
    cosine: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ArgminParams;
@group(0) @binding(1) var<storage, read> dots: array<f32>;
@group(0) @binding(2) var<storage, read> c_sq_norm: array<f32>;
@group(0) @binding(3) var<storage, read> x_norms: array<vec2<f32>>; // (|x|^2, 1/|x|)
@group(0) @binding(4) var<storage, read_write> cluster: array<u32>;
@group(0) @binding(5) var<storage, read_write> distance: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.points) {
        return;
    }
    let xn = x_norms[i];
    var best = 0u;
    var best_d = 3.4e38;
    for (var c = 0u; c < p.clusters; c++) {
        let xc = dots[c * p.points + i];
        var d = 0.0;
        if (p.cosine != 0u) {
            d = 1.0 - xc * xn.y;
        } else {
            d = xn.x - 2.0 * xc + c_sq_norm[c];
        }
        if (d < best_d) {
            best = c;
            best_d = d;
        }
    }
    cluster[i] = best;
    distance[i] = max(best_d, 0.0);
}
