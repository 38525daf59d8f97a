// @ts-check
// The map's point renderer: every point drawn (no sampling), on WebGPU where the browser has it
// (a device of its own on the main thread, one instanced quad per point), else WebGL2
// (gl.POINTS), else a 2D canvas. One interface for the three: points and colours in, a view
// transform (centre and zoom over layout units), drawing on demand (requestAnimationFrame
// coalesces requests), pan and zoom by mouse, touch (pinch) and keyboard, freehand and
// rectangle selection, and what the tests read back (pixels, frame times). Highlights (rings,
// the query's position, polygons) are drawn on a 2D canvas over the points.
//
// The WebGPU API has no declarations in TypeScript's DOM library, so its objects are `any` here.

/** @typedef {'webgpu' | 'webgl2' | 'canvas'} RendererKind */

/**
 * What a backend draws with: layout -> clip space (x * sx + ox, y * sy + oy), the point's radius
 * in clip space (rx, ry) and in device pixels, the canvas size in device pixels.
 * @typedef {{ sx: number, sy: number, ox: number, oy: number, rx: number, ry: number, radius: number, width: number, height: number }} Transform
 */

/**
 * One way of drawing points.
 * @typedef {object} Backend
 * @property {RendererKind} kind
 * @property {HTMLCanvasElement} canvas
 * @property {(xy: Float32Array, rgba: Uint8Array) => void} upload points and their colours, in drawing order
 * @property {(t: Transform) => void} render
 * @property {() => Promise<unknown>} finish resolves when the drawing is done (the GPU waited for)
 * @property {boolean} [asynchronous] frames reach the canvas after `render` returns (wait with `finish`)
 * @property {() => void} destroy
 */

/** The background, also the cleared colour of every backend. */
export const BACKGROUND = [255, 255, 255];

const WGSL = /* wgsl */ `
struct U { scale: vec2f, offset: vec2f, radius: vec2f, pad: vec2f };
@group(0) @binding(0) var<uniform> u: U;
struct Out { @builtin(position) pos: vec4f, @location(0) color: vec4f, @location(1) corner: vec2f };
@vertex fn vs(@builtin(vertex_index) v: u32, @location(0) p: vec2f, @location(1) c: vec4f) -> Out {
  // A triangle strip of 4 corners: (-1,-1), (1,-1), (-1,1), (1,1).
  let k = vec2f(f32(v & 1u) * 2.0 - 1.0, f32((v >> 1u) & 1u) * 2.0 - 1.0);
  var o: Out;
  o.pos = vec4f(p * u.scale + u.offset + k * u.radius, 0.0, 1.0);
  o.color = c;
  o.corner = k;
  return o;
}
@fragment fn fs(i: Out) -> @location(0) vec4f {
  if (dot(i.corner, i.corner) > 1.0) { discard; }
  return i.color;
}
`;

/**
 * The software path's drawing, in compute: each point marks the pixels of its disc with its
 * drawing index + 1 (atomicMax: the latest drawn is on top), then each pixel takes the colour of
 * the point that marked it. On SwiftShader this is ~100x faster than rasterizing quads.
 */
const SPLAT_WGSL = /* wgsl */ `
struct U { scale: vec2f, offset: vec2f, radius: f32, width: u32, height: u32, n: u32, background: u32, stride: u32 };
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> positions: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> ids: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> colors: array<u32>;
@group(0) @binding(4) var<storage, read_write> pixels: array<u32>;
@compute @workgroup_size(64) fn splat(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * u.stride;
  if (i >= u.n) { return; }
  let c = positions[i] * u.scale + u.offset;
  let px = (c.x + 1.0) * 0.5 * f32(u.width);
  let py = (1.0 - c.y) * 0.5 * f32(u.height);
  let r = u.radius;
  if (!(px >= -r && px <= f32(u.width) + r && py >= -r && py <= f32(u.height) + r)) { return; }
  let x0 = max(i32(floor(px - r)), 0);
  let x1 = min(i32(ceil(px + r)), i32(u.width) - 1);
  let y0 = max(i32(floor(py - r)), 0);
  let y1 = min(i32(ceil(py + r)), i32(u.height) - 1);
  let r2 = r * r;
  for (var y = y0; y <= y1; y++) {
    let dy = f32(y) + 0.5 - py;
    for (var x = x0; x <= x1; x++) {
      let dx = f32(x) + 0.5 - px;
      if (dx * dx + dy * dy <= r2) {
        atomicMax(&ids[u32(y) * u.width + u32(x)], i + 1u);
      }
    }
  }
}
@compute @workgroup_size(8, 8) fn resolve(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= u.width || gid.y >= u.height) { return; }
  let p = gid.y * u.width + gid.x;
  let id = atomicLoad(&ids[p]);
  var out = u.background;
  if (id > 0u) { out = colors[id - 1u]; }
  pixels[p] = out;
}
`;

const VERTEX_GLSL = `#version 300 es
layout(location = 0) in vec2 p;
layout(location = 1) in vec4 c;
uniform vec2 scale;
uniform vec2 offset;
uniform float size;
out vec4 color;
void main() {
  gl_Position = vec4(p * scale + offset, 0.0, 1.0);
  gl_PointSize = size;
  color = c;
}`;

const FRAGMENT_GLSL = `#version 300 es
precision mediump float;
in vec4 color;
out vec4 outColor;
void main() {
  vec2 d = gl_PointCoord * 2.0 - 1.0;
  if (dot(d, d) > 1.0) discard;
  outColor = color;
}`;

/** @type {Promise<any> | null} */
let sharedDevice = null;
/**
 * The adapter of the shared device, held: Chromium loses a device whose adapter was collected
 * ("A valid external Instance reference no longer exists").
 * @type {any}
 */
let sharedAdapter = null;

/** The page's WebGPU device for drawing (one for every map), or null without WebGPU. */
function webgpuDevice() {
  sharedDevice ??= (async () => {
    const gpu = /** @type {any} */ (navigator).gpu;
    if (!gpu) return null;
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    sharedAdapter = adapter;
    const device = await adapter.requestDevice();
    device.lost.then(() => {
      sharedDevice = null;
    });
    return device;
  })().catch(() => null);
  return sharedDevice;
}

/**
 * Starts getting the WebGPU device the maps draw with, so the first map does not wait for it
 * (call while the bundle loads).
 */
export function prepareRenderer() {
  webgpuDevice();
}

/** A canvas for a backend. */
function newCanvas() {
  const canvas = document.createElement('canvas');
  canvas.className = 'points';
  canvas.width = canvas.height = 1;
  return canvas;
}

/**
 * Points on WebGPU. On a hardware adapter: instanced quads (a 4-vertex strip each, a circle cut
 * out in the fragment shader) drawn into the canvas's own WebGPU context. On a software adapter
 * (SwiftShader: headless browsers, machines without a GPU) presenting a WebGPU canvas is not
 * dependable (Chromium loses the device) and rasterizing quads is slow, so the points are
 * splatted by a compute shader into a buffer that is copied to a 2D canvas ("readback"); its
 * frames complete asynchronously (`finish` waits for the last).
 * @param {(why: string) => void} onLost
 * @returns {Promise<Backend>}
 */
async function webgpuBackend(onLost) {
  const device = await webgpuDevice();
  if (!device) throw new Error('WebGPU is unavailable');
  const g = /** @type {any} */ (globalThis);
  const info = sharedAdapter?.info ?? {};
  const readback = Boolean(sharedAdapter?.isFallbackAdapter || info.isFallbackAdapter || /swiftshader/i.test(`${info.architecture ?? ''} ${info.description ?? ''} ${info.vendor ?? ''}`));
  const usage = g.GPUBufferUsage;
  const canvas = newCanvas();
  /** @type {any} */
  let positions = null;
  /** @type {any} */
  let colors = null;
  let n = 0;
  let destroyed = false;
  device.lost.then((/** @type {any} */ lost) => {
    if (!destroyed) onLost(`the device was lost: ${lost?.reason ?? ''} ${lost?.message ?? ''}`.trim());
  });
  const upload = (/** @type {Float32Array} */ xy, /** @type {Uint8Array} */ rgba) => {
    positions?.destroy();
    colors?.destroy();
    n = xy.length / 2;
    const use = usage.VERTEX | usage.STORAGE | usage.COPY_DST;
    positions = device.createBuffer({ size: Math.max(8, xy.byteLength), usage: use });
    colors = device.createBuffer({ size: Math.max(4, rgba.byteLength), usage: use });
    if (n) {
      device.queue.writeBuffer(positions, 0, xy);
      device.queue.writeBuffer(colors, 0, rgba);
    }
  };

  if (!readback) {
    const context = /** @type {any} */ (canvas.getContext('webgpu'));
    if (!context) throw new Error('no WebGPU canvas context');
    const format = g.navigator.gpu.getPreferredCanvasFormat();
    context.configure({ device, format, alphaMode: 'opaque' });
    const module = device.createShaderModule({ code: WGSL });
    const pipeline = device.createRenderPipeline({
      layout: 'auto',
      vertex: {
        module,
        entryPoint: 'vs',
        buffers: [
          { arrayStride: 8, stepMode: 'instance', attributes: [{ shaderLocation: 0, offset: 0, format: 'float32x2' }] },
          { arrayStride: 4, stepMode: 'instance', attributes: [{ shaderLocation: 1, offset: 0, format: 'unorm8x4' }] },
        ],
      },
      fragment: { module, entryPoint: 'fs', targets: [{ format }] },
      primitive: { topology: 'triangle-strip' },
    });
    const uniforms = device.createBuffer({ size: 32, usage: usage.UNIFORM | usage.COPY_DST });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: uniforms } }] });
    return {
      kind: 'webgpu',
      canvas,
      upload,
      render(t) {
        device.queue.writeBuffer(uniforms, 0, new Float32Array([t.sx, t.sy, t.ox, t.oy, t.rx, t.ry, 0, 0]));
        const encoder = device.createCommandEncoder();
        const [r, gr, b] = BACKGROUND.map((c) => c / 255);
        const pass = encoder.beginRenderPass({
          colorAttachments: [{ view: context.getCurrentTexture().createView(), clearValue: { r, g: gr, b, a: 1 }, loadOp: 'clear', storeOp: 'store' }],
        });
        if (n) {
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.setVertexBuffer(0, positions);
          pass.setVertexBuffer(1, colors);
          pass.draw(4, n);
        }
        pass.end();
        device.queue.submit([encoder.finish()]);
      },
      finish: () => device.queue.onSubmittedWorkDone(),
      destroy() {
        destroyed = true;
        positions?.destroy();
        colors?.destroy();
        uniforms.destroy();
        context.unconfigure();
      },
    };
  }

  // The software path: compute splatting, read back to a 2D canvas.
  const ctx2d = /** @type {CanvasRenderingContext2D | null} */ (canvas.getContext('2d', { alpha: false }));
  if (!ctx2d) throw new Error('no 2D canvas to show WebGPU frames on');
  const stage = g.GPUShaderStage.COMPUTE;
  const layout = device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: stage, buffer: { type: 'uniform' } },
      { binding: 1, visibility: stage, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: stage, buffer: { type: 'storage' } },
      { binding: 3, visibility: stage, buffer: { type: 'read-only-storage' } },
      { binding: 4, visibility: stage, buffer: { type: 'storage' } },
    ],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const module = device.createShaderModule({ code: SPLAT_WGSL });
  const splat = device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint: 'splat' } });
  const resolve = device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint: 'resolve' } });
  const uniforms = device.createBuffer({ size: 48, usage: usage.UNIFORM | usage.COPY_DST });
  const background = BACKGROUND[0] | (BACKGROUND[1] << 8) | (BACKGROUND[2] << 16) | (255 << 24);
  /** @type {{ w: number, h: number, ids: any, pixels: any, read: any, image: ImageData, group: any, positions: any, colors: any } | null} */
  let target = null;
  let busy = false;
  /** @type {Transform | null} */
  let again = null;
  /** @type {Promise<unknown>} */
  let done = Promise.resolve();

  /** @param {Transform} t */
  const render = (t) => {
    if (busy) {
      again = t;
      return;
    }
    busy = true;
    const w = canvas.width;
    const h = canvas.height;
    if (!target || target.w !== w || target.h !== h) {
      target?.ids.destroy();
      target?.pixels.destroy();
      target?.read.destroy();
      const bytes = 4 * w * h;
      target = {
        w,
        h,
        ids: device.createBuffer({ size: bytes, usage: usage.STORAGE | usage.COPY_DST }),
        pixels: device.createBuffer({ size: bytes, usage: usage.STORAGE | usage.COPY_SRC }),
        read: device.createBuffer({ size: bytes, usage: usage.MAP_READ | usage.COPY_DST }),
        image: ctx2d.createImageData(w, h),
        group: null,
        positions: null,
        colors: null,
      };
    }
    const frame = target;
    if (frame.positions !== positions || frame.colors !== colors || !frame.group) {
      frame.positions = positions;
      frame.colors = colors;
      frame.group = device.createBindGroup({
        layout,
        entries: [uniforms, positions, frame.ids, colors, frame.pixels].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
    }
    const groups = Math.ceil(n / 64);
    const gx = Math.min(groups, 65535);
    const gy = Math.ceil(groups / 65535);
    const u = new ArrayBuffer(48);
    new Float32Array(u, 0, 5).set([t.sx, t.sy, t.ox, t.oy, t.radius]);
    new Uint32Array(u, 20, 5).set([w, h, n, background >>> 0, gx * 64]);
    device.queue.writeBuffer(uniforms, 0, u);
    const encoder = device.createCommandEncoder();
    encoder.clearBuffer(frame.ids);
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, frame.group);
    if (n) {
      pass.setPipeline(splat);
      pass.dispatchWorkgroups(gx, gy);
    }
    pass.setPipeline(resolve);
    pass.dispatchWorkgroups(Math.ceil(w / 8), Math.ceil(h / 8));
    pass.end();
    encoder.copyBufferToBuffer(frame.pixels, 0, frame.read, 0, 4 * w * h);
    device.queue.submit([encoder.finish()]);
    done = frame.read
      .mapAsync(g.GPUMapMode.READ)
      .then(() => {
        frame.image.data.set(new Uint8Array(frame.read.getMappedRange()));
        frame.read.unmap();
        if (canvas.width === w && canvas.height === h) ctx2d.putImageData(frame.image, 0, 0);
      })
      .catch(() => {
        // The device was lost meanwhile: onLost takes over.
      })
      .finally(() => {
        busy = false;
        if (again && !destroyed) {
          const next = again;
          again = null;
          render(next);
        }
      });
  };

  return {
    kind: 'webgpu',
    canvas,
    upload,
    render,
    async finish() {
      while (busy || again) await done;
    },
    asynchronous: true,
    destroy() {
      destroyed = true;
      positions?.destroy();
      colors?.destroy();
      uniforms.destroy();
      target?.ids.destroy();
      target?.pixels.destroy();
      target?.read.destroy();
    },
  };
}

/**
 * Points on WebGL2: gl.POINTS, a circle cut out in the fragment shader. The drawing buffer is
 * preserved, so it can be read back after the frame.
 * @param {(why: string) => void} onLost
 * @returns {Backend}
 */
function webgl2Backend(onLost) {
  const canvas = newCanvas();
  const gl = canvas.getContext('webgl2', { antialias: false, preserveDrawingBuffer: true, alpha: false, depth: false, stencil: false });
  if (!gl) throw new Error('WebGL2 is unavailable');
  /**
   * @param {number} type
   * @param {string} source
   */
  const shader = (type, source) => {
    const s = /** @type {WebGLShader} */ (gl.createShader(type));
    gl.shaderSource(s, source);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`WebGL2 shader: ${gl.getShaderInfoLog(s)}`);
    return s;
  };
  const program = /** @type {WebGLProgram} */ (gl.createProgram());
  gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX_GLSL));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT_GLSL));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`WebGL2 program: ${gl.getProgramInfoLog(program)}`);
  const where = {
    scale: gl.getUniformLocation(program, 'scale'),
    offset: gl.getUniformLocation(program, 'offset'),
    size: gl.getUniformLocation(program, 'size'),
  };
  const maxSize = /** @type {Float32Array} */ (gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE))[1] || 64;
  const vao = gl.createVertexArray();
  const positions = gl.createBuffer();
  const colors = gl.createBuffer();
  gl.bindVertexArray(vao);
  gl.bindBuffer(gl.ARRAY_BUFFER, positions);
  gl.enableVertexAttribArray(0);
  gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  gl.bindBuffer(gl.ARRAY_BUFFER, colors);
  gl.enableVertexAttribArray(1);
  gl.vertexAttribPointer(1, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  gl.bindVertexArray(null);
  let n = 0;
  let destroyed = false;
  canvas.addEventListener('webglcontextlost', (e) => {
    e.preventDefault();
    if (!destroyed) onLost('the WebGL2 context was lost');
  });
  return {
    kind: 'webgl2',
    canvas,
    upload(xy, rgba) {
      n = xy.length / 2;
      gl.bindBuffer(gl.ARRAY_BUFFER, positions);
      gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, colors);
      gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.STATIC_DRAW);
    },
    render(t) {
      gl.viewport(0, 0, canvas.width, canvas.height);
      const [r, g, b] = BACKGROUND.map((c) => c / 255);
      gl.clearColor(r, g, b, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!n) return;
      gl.useProgram(program);
      gl.uniform2f(where.scale, t.sx, t.sy);
      gl.uniform2f(where.offset, t.ox, t.oy);
      gl.uniform1f(where.size, Math.min(maxSize, 2 * t.radius));
      gl.bindVertexArray(vao);
      gl.drawArrays(gl.POINTS, 0, n);
      gl.bindVertexArray(null);
    },
    finish() {
      // Reading a pixel waits for the drawing.
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
      return Promise.resolve();
    },
    destroy() {
      destroyed = true;
      gl.deleteBuffer(positions);
      gl.deleteBuffer(colors);
      gl.deleteVertexArray(vao);
      gl.deleteProgram(program);
    },
  };
}

/**
 * Points on a 2D canvas: each colour once (points grouped by colour, in the order of their first
 * appearance, which keeps later colours on top), circles for up to 20k points, squares beyond.
 * @returns {Backend}
 */
function canvasBackend() {
  const canvas = newCanvas();
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { alpha: false }));
  if (!ctx) throw new Error('no 2D canvas');
  /** @type {{ style: string, xy: Float32Array }[]} */
  let runs = [];
  let n = 0;
  return {
    kind: 'canvas',
    canvas,
    upload(xy, rgba) {
      n = xy.length / 2;
      /** @type {Map<number, number[]>} */
      const groups = new Map();
      const words = new Uint32Array(rgba.buffer, rgba.byteOffset, n);
      for (let i = 0; i < n; i++) {
        let g = groups.get(words[i]);
        if (!g) groups.set(words[i], (g = []));
        g.push(i);
      }
      runs = [...groups.values()].map((idx) => {
        const i0 = idx[0];
        const out = new Float32Array(idx.length * 2);
        idx.forEach((i, m) => {
          out[2 * m] = xy[2 * i];
          out[2 * m + 1] = xy[2 * i + 1];
        });
        return { style: `rgba(${rgba[4 * i0]},${rgba[4 * i0 + 1]},${rgba[4 * i0 + 2]},${rgba[4 * i0 + 3] / 255})`, xy: out };
      });
    },
    render(t) {
      const w = canvas.width;
      const h = canvas.height;
      ctx.fillStyle = `rgb(${BACKGROUND.join(',')})`;
      ctx.fillRect(0, 0, w, h);
      const r = t.radius;
      const round = n <= 20000 && r >= 1.5;
      // Clip space -> device pixels.
      const ax = (t.sx * w) / 2;
      const bx = ((t.ox + 1) * w) / 2;
      const ay = (-t.sy * h) / 2;
      const by = ((1 - t.oy) * h) / 2;
      for (const run of runs) {
        ctx.fillStyle = run.style;
        ctx.beginPath();
        const xy = run.xy;
        for (let i = 0; i < xy.length; i += 2) {
          const x = xy[i] * ax + bx;
          const y = xy[i + 1] * ay + by;
          if (x < -r || y < -r || x > w + r || y > h + r) continue;
          if (round) {
            ctx.moveTo(x + r, y);
            ctx.arc(x, y, r, 0, 2 * Math.PI);
          } else {
            ctx.rect(x - r, y - r, 2 * r, 2 * r);
          }
        }
        ctx.fill();
      }
    },
    finish: () => Promise.resolve(),
    destroy() {
      runs = [];
    },
  };
}

/**
 * A backend of `kind`, or the next one down when it is unavailable (`skipped` says why).
 * @param {RendererKind} kind
 * @param {(why: string) => void} onLost
 * @returns {Promise<{ backend: Backend, skipped: string[] }>}
 */
async function makeBackend(kind, onLost) {
  /** @type {RendererKind[]} */
  const order = ['webgpu', 'webgl2', 'canvas'];
  /** @type {string[]} */
  const skipped = [];
  for (const k of order.slice(order.indexOf(kind))) {
    try {
      const backend = k === 'webgpu' ? await webgpuBackend(onLost) : k === 'webgl2' ? webgl2Backend(onLost) : canvasBackend();
      return { backend, skipped };
    } catch (e) {
      // Try the next one, and say why.
      skipped.push(`${k}: ${e?.message ?? e}`);
    }
  }
  throw new Error(`no way to draw the map in this browser (${skipped.join('; ')})`);
}

/**
 * The nearest of a set of 2D points, through a grid over their bounds.
 */
export class PointIndex {
  /** @param {Float32Array} xy */
  constructor(xy) {
    const n = xy.length / 2;
    this.xy = xy;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i];
      const y = xy[2 * i + 1];
      if (!(Number.isFinite(x) && Number.isFinite(y))) continue;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
    if (minX > maxX) minX = maxX = minY = maxY = 0;
    this.bounds = { minX, minY, maxX, maxY };
    this.g = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
    this.cw = (maxX - minX) / this.g || 1;
    this.ch = (maxY - minY) / this.g || 1;
    const cells = this.g * this.g;
    this.start = new Uint32Array(cells + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.cell(xy[2 * i], xy[2 * i + 1]);
      cellOf[i] = c;
      if (c >= 0) this.start[c + 1]++;
    }
    for (let c = 0; c < cells; c++) this.start[c + 1] += this.start[c];
    this.items = new Uint32Array(this.start[cells]);
    const fill = this.start.slice(0, cells);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) this.items[fill[cellOf[i]]++] = i;
  }

  /**
   * The cell of (x, y), or -1 for a point that is not finite.
   * @param {number} x
   * @param {number} y
   */
  cell(x, y) {
    if (!(Number.isFinite(x) && Number.isFinite(y))) return -1;
    const cx = Math.min(this.g - 1, Math.max(0, Math.floor((x - this.bounds.minX) / this.cw)));
    const cy = Math.min(this.g - 1, Math.max(0, Math.floor((y - this.bounds.minY) / this.ch)));
    return cy * this.g + cx;
  }

  /**
   * The point nearest to (x, y) within `r`, or -1.
   * @param {number} x
   * @param {number} y
   * @param {number} r
   */
  nearest(x, y, r) {
    const { minX, minY } = this.bounds;
    const x0 = Math.max(0, Math.floor((x - r - minX) / this.cw));
    const x1 = Math.min(this.g - 1, Math.floor((x + r - minX) / this.cw));
    const y0 = Math.max(0, Math.floor((y - r - minY) / this.ch));
    const y1 = Math.min(this.g - 1, Math.floor((y + r - minY) / this.ch));
    let best = -1;
    let bestD = r * r;
    for (let cy = y0; cy <= y1; cy++) {
      for (let cx = x0; cx <= x1; cx++) {
        const c = cy * this.g + cx;
        for (let m = this.start[c]; m < this.start[c + 1]; m++) {
          const i = this.items[m];
          const dx = this.xy[2 * i] - x;
          const dy = this.xy[2 * i + 1] - y;
          const d = dx * dx + dy * dy;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

/**
 * What the overlay draws over the points: rings around documents, the query's position, the
 * selection polygon, a hovered point.
 * @typedef {object} Highlight
 * @property {number[]} [rings] documents ringed
 * @property {[number, number] | null} [query] the query's position (layout units)
 * @property {number | null} [hover] the hovered document
 */

/** @typedef {'pan' | 'lasso' | 'box'} Tool */

export class Scatter {
  /**
   * Use `Scatter.create`.
   * @param {HTMLElement} container
   * @param {Backend} backend
   * @param {{ interactive: boolean }} options
   */
  constructor(container, backend, { interactive }) {
    this.container = container;
    container.classList.add('scatter');
    this.backend = backend;
    this.overlay = document.createElement('canvas');
    this.overlay.className = 'overlay';
    container.replaceChildren(backend.canvas, this.overlay);
    this.interactive = interactive;
    /** @type {Float32Array} */
    this.xy = new Float32Array(0);
    this.n = 0;
    /** @type {Uint8Array} */
    this.rgba = new Uint8Array(0);
    /** @type {Uint32Array | null} */
    this.order = null;
    this.bounds = { minX: 0, minY: 0, maxX: 1, maxY: 1 };
    this.cx = 0.5;
    this.cy = 0.5;
    this.zoom = 1;
    this.cssW = 1;
    this.cssH = 1;
    this.dpr = window.devicePixelRatio || 1;
    /** @type {Highlight} */
    this.highlight = {};
    /** @type {number[] | null} the selection polygon, layout units */
    this.selection = null;
    /** @type {number[] | null} a polygon being drawn, layout units */
    this.drawing = null;
    /** @type {Tool} */
    this.tool = 'pan';
    /** Called after the view moved (pan or zoom). @type {((view: [number, number, number]) => void) | null} */
    this.onView = null;
    /** Called with a finished selection polygon (layout units). @type {((polygon: number[]) => void) | null} */
    this.onSelect = null;
    /** Called with the pointer's position (CSS pixels in the map) while it moves, null when it leaves. @type {((p: { x: number, y: number } | null) => void) | null} */
    this.onHover = null;
    /** Called on a click (no drag). @type {((p: { x: number, y: number }) => void) | null} */
    this.onClick = null;
    /** The time (performance.now) the first paint is measured from; null once painted. @type {number | null} */
    this.firstPaintFrom = null;
    this.frame = 0;
    this.uploaded = false;
    /** Why better renderers were not used. @type {string[]} */
    this.skipped = [];
    this.resize();
    // Resizing clears a canvas: the new frame is drawn before the page is painted.
    new ResizeObserver(() => {
      if (this.resize()) this.drawNow();
    }).observe(container);
    if (interactive) this.listen();
  }

  /**
   * A renderer in `container`: `kind` if the browser has it, else the next best.
   * @param {HTMLElement} container
   * @param {{ kind?: RendererKind | '', interactive?: boolean }} [options]
   */
  static async create(container, { kind = '', interactive = true } = {}) {
    /** @type {Scatter | null} */
    let scatter = null;
    const lost = (/** @type {string} */ why) => scatter?.fallBack(why);
    const { backend, skipped } = await makeBackend(kind || 'webgpu', lost);
    scatter = new Scatter(container, backend, { interactive });
    scatter.skipped = skipped;
    return scatter;
  }

  get kind() {
    return this.backend.kind;
  }

  /**
   * After the GPU device or context was lost, or drawing failed: the next renderer down takes over.
   * @param {string} why
   */
  async fallBack(why) {
    const old = this.backend;
    const next = old.kind === 'webgpu' ? 'webgl2' : 'canvas';
    try {
      old.destroy();
    } catch {
      // It is gone already.
    }
    const { backend, skipped } = await makeBackend(next, (why) => this.fallBack(why));
    this.backend = backend;
    this.skipped = [...this.skipped, `${old.kind}: ${why}`, ...skipped];
    this.container.replaceChildren(this.backend.canvas, this.overlay);
    this.uploaded = false;
    this.resize(true);
    this.draw();
  }

  /**
   * Matches the canvases to the container's size; true when it changed.
   * @param {boolean} [force]
   */
  resize(force = false) {
    const rect = this.container.getBoundingClientRect();
    // Hidden (not laid out): keep the last size until it shows again.
    if (!force && (rect.width === 0 || rect.height === 0) && this.cssW > 1) return false;
    const w = Math.max(1, Math.round(rect.width));
    const h = Math.max(1, Math.round(rect.height));
    this.dpr = window.devicePixelRatio || 1;
    if (!force && w === this.cssW && h === this.cssH && this.backend.canvas.width === Math.round(w * this.dpr)) return false;
    this.cssW = w;
    this.cssH = h;
    // A frame read back arrives later: until then the canvas keeps the last one, not black.
    const points = this.backend.canvas;
    /** @type {HTMLCanvasElement | null} */
    let last = null;
    if (this.backend.asynchronous && points.width > 1 && points.height > 1) {
      last = document.createElement('canvas');
      last.width = points.width;
      last.height = points.height;
      last.getContext('2d')?.drawImage(points, 0, 0);
    }
    for (const c of [points, this.overlay]) {
      c.width = Math.max(1, Math.round(w * this.dpr));
      c.height = Math.max(1, Math.round(h * this.dpr));
    }
    if (last) {
      const ctx = /** @type {CanvasRenderingContext2D} */ (points.getContext('2d'));
      ctx.fillStyle = `rgb(${BACKGROUND.join(',')})`;
      ctx.fillRect(0, 0, points.width, points.height);
      ctx.drawImage(last, 0, 0);
    }
    return true;
  }

  /**
   * The points, N x 2 interleaved, in layout units. Keeps the view when the bounds are the same.
   * @param {Float32Array} xy
   */
  setPoints(xy) {
    this.xy = xy;
    this.n = Math.floor(xy.length / 2);
    this.index = new PointIndex(xy);
    this.bounds = this.index.bounds;
    if (this.rgba.length !== this.n * 4) {
      this.rgba = new Uint8Array(this.n * 4).fill(128);
      this.order = null;
    }
    this.uploaded = false;
    this.draw();
  }

  /**
   * Each point's colour (RGBA, 4 bytes a point); `order` the order to draw them in (later on
   * top), or null for index order.
   * @param {Uint8Array} rgba
   * @param {Uint32Array | null} [order]
   */
  setColors(rgba, order = null) {
    this.rgba = rgba;
    this.order = order;
    this.uploaded = false;
    this.draw();
  }

  /** @param {Highlight} h */
  setHighlight(h) {
    this.highlight = { ...this.highlight, ...h };
    this.drawOverlay();
  }

  /** @param {number[] | null} polygon */
  setSelection(polygon) {
    this.selection = polygon;
    this.drawOverlay();
  }

  /** The layout's units per CSS pixel at zoom 1 fit the whole map with a margin. */
  get fitScale() {
    const { minX, minY, maxX, maxY } = this.bounds;
    return 0.92 * Math.min(this.cssW / Math.max(maxX - minX, 1e-9), this.cssH / Math.max(maxY - minY, 1e-9));
  }

  /** CSS pixels per layout unit now. */
  get scale() {
    return this.fitScale * this.zoom;
  }

  /** @returns {[number, number, number]} */
  get view() {
    return [this.cx, this.cy, this.zoom];
  }

  /**
   * Centres the map on (cx, cy) at `zoom` (1 = the whole map).
   * @param {number} cx
   * @param {number} cy
   * @param {number} zoom
   */
  setView(cx, cy, zoom) {
    this.cx = cx;
    this.cy = cy;
    this.zoom = Math.min(5000, Math.max(0.2, zoom));
    this.draw();
  }

  /** The whole map. */
  fit() {
    const { minX, minY, maxX, maxY } = this.bounds;
    this.setView((minX + maxX) / 2, (minY + maxY) / 2, 1);
  }

  /** A point's radius in CSS pixels: larger when there are few points and when zoomed in. */
  get radius() {
    const base = Math.min(3, Math.max(1, 0.3 * Math.sqrt((this.cssW * this.cssH) / Math.max(1, this.n))));
    return Math.min(10, base * Math.pow(this.zoom, 0.35));
  }

  /**
   * Layout units -> CSS pixels from the map's top left corner.
   * @param {number} x
   * @param {number} y
   * @returns {[number, number]}
   */
  toScreen(x, y) {
    return [this.cssW / 2 + (x - this.cx) * this.scale, this.cssH / 2 - (y - this.cy) * this.scale];
  }

  /**
   * CSS pixels from the map's top left corner -> layout units.
   * @param {number} sx
   * @param {number} sy
   * @returns {[number, number]}
   */
  toLayout(sx, sy) {
    return [this.cx + (sx - this.cssW / 2) / this.scale, this.cy - (sy - this.cssH / 2) / this.scale];
  }

  /** The view for the tests: what toScreen does, as numbers. */
  get transform() {
    return { cx: this.cx, cy: this.cy, scale: this.scale, width: this.cssW, height: this.cssH, dpr: this.dpr, radius: this.radius, kind: this.kind };
  }

  /** Asks for a frame; several asks before it comes draw once. */
  draw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawNow();
    });
  }

  /** Draws now and waits until the frame is on the screen (frames read back arrive later). */
  async flush() {
    this.drawNow();
    await this.backend.finish();
  }

  /** The points in drawing order, to the backend. */
  upload() {
    let xy = this.xy;
    let rgba = this.rgba;
    if (this.order && this.order.length === this.n) {
      xy = new Float32Array(this.n * 2);
      rgba = new Uint8Array(this.n * 4);
      const src = new Uint32Array(this.rgba.buffer, this.rgba.byteOffset, this.n);
      const dst = new Uint32Array(rgba.buffer);
      const [order, from] = [this.order, this.xy];
      // A plain loop: this runs on every steered search, for every point of the map.
      for (let m = 0; m < order.length; m++) {
        const i = order[m];
        xy[2 * m] = from[2 * i];
        xy[2 * m + 1] = from[2 * i + 1];
        dst[m] = src[i];
      }
    }
    this.backend.upload(xy, rgba);
    this.uploaded = true;
  }

  /** Draws now (points and overlay); records the time it took on the canvas. */
  drawNow() {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const started = performance.now();
    if (!this.uploaded) this.upload();
    const s = this.scale;
    const t = {
      sx: (2 * s) / this.cssW,
      sy: (2 * s) / this.cssH,
      ox: (-2 * s * this.cx) / this.cssW,
      oy: (-2 * s * this.cy) / this.cssH,
      rx: (2 * this.radius) / this.cssW,
      ry: (2 * this.radius) / this.cssH,
      radius: this.radius * this.dpr,
      width: this.backend.canvas.width,
      height: this.backend.canvas.height,
    };
    try {
      this.backend.render(t);
    } catch (e) {
      this.fallBack(`drawing failed (${e?.message ?? e})`);
      return;
    }
    this.drawOverlay();
    const ms = performance.now() - started;
    this.backend.canvas.dataset.frameMs = ms.toFixed(2);
    this.container.dataset.frameMs = ms.toFixed(2);
    this.container.dataset.renderer = this.kind;
    if (this.skipped.length) this.container.dataset.skipped = this.skipped.join('; ');
    if (this.firstPaintFrom !== null && this.n) {
      // From then until the points are on the screen (a frame read back arrives later).
      const from = this.firstPaintFrom;
      this.firstPaintFrom = null;
      const record = () => {
        const first = String(Math.round(performance.now() - from));
        this.backend.canvas.dataset.firstPaintMs = first;
        this.container.dataset.firstPaintMs = first;
      };
      if (this.backend.asynchronous) this.backend.finish().then(record, record);
      else record();
    }
  }

  /** The overlay: selection, the polygon being drawn, rings, the query, the hovered point. */
  drawOverlay() {
    const ctx = /** @type {CanvasRenderingContext2D} */ (this.overlay.getContext('2d'));
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.cssW, this.cssH);
    /**
     * @param {number[]} poly
     * @param {boolean} closed
     */
    const path = (poly, closed) => {
      ctx.beginPath();
      for (let i = 0; i + 1 < poly.length; i += 2) {
        const [x, y] = this.toScreen(poly[i], poly[i + 1]);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      }
      if (closed) ctx.closePath();
    };
    if (this.selection) {
      path(this.selection, true);
      ctx.fillStyle = 'rgba(43, 108, 176, 0.07)';
      ctx.fill();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#2b6cb0';
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.drawing) {
      path(this.drawing, this.tool === 'box');
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#1d1f21';
      ctx.stroke();
    }
    const r = this.radius;
    /**
     * @param {number} doc
     * @param {number} radius
     * @param {string} color
     */
    const ring = (doc, radius, color) => {
      if (doc < 0 || doc >= this.n) return;
      const [x, y] = this.toScreen(this.xy[2 * doc], this.xy[2 * doc + 1]);
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.lineWidth = 3.5;
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.9)';
      ctx.stroke();
      ctx.lineWidth = 1.8;
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    for (const doc of this.highlight.rings ?? []) ring(doc, r + 5, '#1d1f21');
    const q = this.highlight.query;
    if (q) {
      const [x, y] = this.toScreen(q[0], q[1]);
      ctx.beginPath();
      for (let k = 0; k < 10; k++) {
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        const rr = k % 2 ? 4 : 10;
        ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
      }
      ctx.closePath();
      ctx.fillStyle = '#d53e4f';
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
    }
    if (this.highlight.hover !== null && this.highlight.hover !== undefined) ring(this.highlight.hover, r + 3, '#2b6cb0');
  }

  /**
   * Draws now and reads the map back (points and overlay) as device pixels.
   * @returns {Promise<ImageData>}
   */
  async snapshot() {
    this.drawNow();
    if (this.backend.asynchronous) await this.backend.finish();
    const c = document.createElement('canvas');
    c.width = this.backend.canvas.width;
    c.height = this.backend.canvas.height;
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    ctx.drawImage(this.backend.canvas, 0, 0);
    ctx.drawImage(this.overlay, 0, 0);
    return ctx.getImageData(0, 0, c.width, c.height);
  }

  /**
   * The colours at points given in CSS pixels of the map (for tests): [r, g, b, a] each, null
   * outside the map.
   * @param {[number, number][]} points
   */
  async pixels(points) {
    const image = await this.snapshot();
    return points.map(([x, y]) => {
      const px = Math.floor(x * this.dpr);
      const py = Math.floor(y * this.dpr);
      if (px < 0 || py < 0 || px >= image.width || py >= image.height) return null;
      const o = 4 * (py * image.width + px);
      return Array.from(image.data.subarray(o, o + 4));
    });
  }

  /**
   * Pans `frames` frames (a few pixels each, back and forth), drawing each and waiting for it;
   * the mean and the slowest frame time in milliseconds. The view is restored after.
   * @param {number} frames
   */
  async measurePan(frames = 60) {
    const [cx, cy, zoom] = this.view;
    const times = [];
    for (let i = 0; i < frames; i++) {
      const started = performance.now();
      this.cx = cx + ((i % 20 < 10 ? i % 10 : 10 - (i % 10)) * 5) / this.scale;
      this.drawNow();
      await this.backend.finish();
      times.push(performance.now() - started);
    }
    this.setView(cx, cy, zoom);
    const mean = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
    this.container.dataset.panFrameMs = mean.toFixed(2);
    return { mean, max: times.reduce((a, b) => Math.max(a, b), 0), frames, points: this.n, renderer: this.kind };
  }

  /**
   * Zooms by `factor` keeping the point under (sx, sy) (CSS pixels) in place.
   * @param {number} factor
   * @param {number} sx
   * @param {number} sy
   */
  zoomAt(factor, sx = this.cssW / 2, sy = this.cssH / 2) {
    const [bx, by] = this.toLayout(sx, sy);
    this.zoom = Math.min(5000, Math.max(0.2, this.zoom * factor));
    const [ax, ay] = this.toLayout(sx, sy);
    this.cx += bx - ax;
    this.cy += by - ay;
    this.moved();
  }

  /**
   * Moves the view by (dx, dy) CSS pixels.
   * @param {number} dx
   * @param {number} dy
   */
  panBy(dx, dy) {
    this.cx -= dx / this.scale;
    this.cy += dy / this.scale;
    this.moved();
  }

  moved() {
    this.draw();
    this.onView?.(this.view);
  }

  /** Mouse, touch and keyboard. */
  listen() {
    const surface = this.overlay;
    surface.tabIndex = 0;
    surface.setAttribute('role', 'application');
    surface.setAttribute('aria-label', 'map of the documents: drag to pan, wheel or +/- to zoom, arrows to move, 0 to fit, shift-drag to select');
    /** @type {Map<number, { x: number, y: number }>} */
    const pointers = new Map();
    let travelled = 0;
    let pinch = 0;
    /** @type {Tool | null} */
    let selecting = null;
    /** @type {[number, number] | null} */
    let boxFrom = null;
    /** @param {PointerEvent} e */
    const local = (e) => {
      const rect = surface.getBoundingClientRect();
      return { x: e.clientX - rect.left, y: e.clientY - rect.top };
    };
    surface.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 && e.pointerType === 'mouse') return;
      surface.focus({ preventScroll: true });
      surface.setPointerCapture(e.pointerId);
      const p = local(e);
      pointers.set(e.pointerId, p);
      travelled = 0;
      this.onHover?.(null);
      if (pointers.size === 1) {
        const tool = e.shiftKey ? (e.altKey ? 'box' : 'lasso') : this.tool;
        if (tool !== 'pan') {
          selecting = tool;
          const [x, y] = this.toLayout(p.x, p.y);
          boxFrom = [x, y];
          this.drawing = [x, y];
        }
      } else {
        // A second finger: pinch instead of selecting.
        selecting = null;
        this.drawing = null;
        const [a, b] = [...pointers.values()];
        pinch = Math.hypot(a.x - b.x, a.y - b.y);
      }
      e.preventDefault();
    });
    surface.addEventListener('pointermove', (e) => {
      const p = local(e);
      const before = pointers.get(e.pointerId);
      if (!before) {
        this.onHover?.(p);
        return;
      }
      travelled += Math.hypot(p.x - before.x, p.y - before.y);
      pointers.set(e.pointerId, p);
      if (selecting && this.drawing && boxFrom) {
        const [x, y] = this.toLayout(p.x, p.y);
        if (selecting === 'box') {
          const [x0, y0] = boxFrom;
          this.drawing = [x0, y0, x, y0, x, y, x0, y];
        } else {
          const n = this.drawing.length;
          const [lx, ly] = this.toScreen(this.drawing[n - 2], this.drawing[n - 1]);
          if (Math.hypot(lx - p.x, ly - p.y) >= 3) this.drawing.push(x, y);
        }
        this.drawOverlay();
      } else if (pointers.size >= 2) {
        const [a, b] = [...pointers.values()];
        const d = Math.hypot(a.x - b.x, a.y - b.y);
        if (pinch > 0 && d > 0) this.zoomAt(d / pinch, (a.x + b.x) / 2, (a.y + b.y) / 2);
        pinch = d;
        // Two fingers moving together pan by half each one's move.
        this.panBy((p.x - before.x) / 2, (p.y - before.y) / 2);
      } else {
        this.panBy(p.x - before.x, p.y - before.y);
      }
    });
    /** @param {PointerEvent} e */
    const end = (e) => {
      if (!pointers.has(e.pointerId)) return;
      const p = local(e);
      pointers.delete(e.pointerId);
      if (pointers.size) return;
      pinch = 0;
      if (selecting) {
        const polygon = this.drawing ?? [];
        selecting = null;
        this.drawing = null;
        this.drawOverlay();
        const closed = simplify(polygon, 200);
        if (e.type === 'pointerup' && closed.length >= 6 && polygonArea(closed) * this.scale * this.scale >= 9) this.onSelect?.(closed);
        else if (e.type === 'pointerup' && travelled < 4) this.onClick?.(p);
        return;
      }
      if (e.type === 'pointerup' && travelled < 4) this.onClick?.(p);
    };
    surface.addEventListener('pointerup', end);
    surface.addEventListener('pointercancel', end);
    surface.addEventListener('pointerleave', () => {
      if (!pointers.size) this.onHover?.(null);
    });
    surface.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const p = { x: e.offsetX, y: e.offsetY };
        const lines = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
        this.zoomAt(Math.exp(-e.deltaY * lines * 0.0015), p.x, p.y);
      },
      { passive: false },
    );
    surface.addEventListener('keydown', (e) => {
      const step = 60;
      /** @type {Record<string, () => void>} */
      const keys = {
        '+': () => this.zoomAt(1.25),
        '=': () => this.zoomAt(1.25),
        '-': () => this.zoomAt(0.8),
        _: () => this.zoomAt(0.8),
        '0': () => {
          this.fit();
          this.moved();
        },
        ArrowLeft: () => this.panBy(step, 0),
        ArrowRight: () => this.panBy(-step, 0),
        ArrowUp: () => this.panBy(0, step),
        ArrowDown: () => this.panBy(0, -step),
        Escape: () => {
          this.drawing = null;
          selecting = null;
          this.drawOverlay();
        },
      };
      const act = keys[e.key];
      if (!act || e.ctrlKey || e.metaKey || e.altKey) return;
      e.preventDefault();
      act();
    });
  }
}

/**
 * A polygon's area (layout units squared).
 * @param {number[]} p x0,y0,x1,y1,...
 */
export function polygonArea(p) {
  let a = 0;
  const n = p.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    a += p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1];
  }
  return Math.abs(a) / 2;
}

/**
 * At most `max` vertices of `p`, evenly kept (a freehand lasso has hundreds).
 * @param {number[]} p
 * @param {number} max
 */
export function simplify(p, max) {
  const n = Math.floor(p.length / 2);
  if (n <= max) return p.slice(0, 2 * n);
  const out = [];
  for (let k = 0; k < max; k++) {
    const i = Math.floor((k * n) / max);
    out.push(p[2 * i], p[2 * i + 1]);
  }
  return out;
}
