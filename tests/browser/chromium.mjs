// Debian's headless Chromium (never a downloaded browser), with WebGPU on (SwiftShader where
// there is no GPU) or off, for the tests and tests/browser/measure.mjs.

import { chromium } from 'playwright-core';

const ARGS = ['--no-sandbox', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launch({ webgpu }) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...ARGS, webgpu ? '--enable-unsafe-webgpu' : '--disable-webgpu'] });
}
