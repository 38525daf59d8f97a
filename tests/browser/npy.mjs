// A minimal .npy reader for the tests (little-endian float32, float16, int32 and uint16, C order).
// float16 is widened to a Float32Array (bundles store codes' values as float16).
export function readNpy(buffer) {
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = bytes.slice(start + headerLen);
  if (descr === '<f2') {
    const halves = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    return { shape, data: Float32Array.from(halves, halfToFloat) };
  }
  const typed = { '<f4': Float32Array, '<i4': Int32Array, '<u2': Uint16Array }[descr];
  if (!typed) throw new Error(`unsupported dtype ${descr}`);
  return { shape, data: new typed(data.buffer, data.byteOffset, data.byteLength / typed.BYTES_PER_ELEMENT) };
}

/** An IEEE half's bits as a number. */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
