// A minimal .npy reader for the tests (little-endian float32/int32, C order).
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
  const typed = { '<f4': Float32Array, '<i4': Int32Array }[descr];
  if (!typed) throw new Error(`unsupported dtype ${descr}`);
  return { shape, data: new typed(data.buffer, data.byteOffset, data.byteLength / 4) };
}
