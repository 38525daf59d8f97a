// Debian's headless Chromium (never a downloaded browser), with WebGPU on (SwiftShader where
// there is no GPU) or off, for the tests and tests/browser/measure.mjs.

import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const ARGS = ['--no-sandbox', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launch({ webgpu }) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...ARGS, webgpu ? '--enable-unsafe-webgpu' : '--disable-webgpu'] });
}

/**
 * The two browsers a test file compares, WebGPU on (`gpu`) and off (`plain`): launched before
 * the file's tests and closed after them.
 */
export function bothBrowsers() {
  const browsers = { gpu: null, plain: null };
  before(async () => {
    browsers.gpu = await launch({ webgpu: true });
    browsers.plain = await launch({ webgpu: false });
  });
  after(async () => {
    await browsers.gpu?.close();
    await browsers.plain?.close();
  });
  return browsers;
}
