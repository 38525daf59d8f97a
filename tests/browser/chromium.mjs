// Debian's headless Chromium (never a downloaded browser), with WebGPU on (SwiftShader where
// there is no GPU) or off, for the tests and tests/browser/measure.mjs.

import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const ARGS = ['--no-sandbox', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launch({ webgpu }) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...ARGS, webgpu ? '--enable-unsafe-webgpu' : '--disable-webgpu'] });
  if (webgpu) forceWebGpu(browser);
  return browser;
}

/**
 * The WebGPU browser exists to test the WebGPU engine, but on its own the page takes the CPU
 * path over a software WebGPU such as SwiftShader (faster there): so its pages open the app with
 * `device=gpu` unless the URL sets a device (`device=auto` tests the page's own choice).
 */
function forceWebGpu(browser) {
  const newPage = browser.newPage.bind(browser);
  browser.newPage = async (options) => {
    const page = await newPage(options);
    const goto = page.goto.bind(page);
    page.goto = (url, gotoOptions) => goto(url.includes('?') && !/[?&]device=/.test(url) ? `${url}&device=gpu` : url, gotoOptions);
    return page;
  };
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
