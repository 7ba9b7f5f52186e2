/**
 * Real headless Chromium for the browser-login tests: Debian's `chromium` driven by playwright-core
 * (never a downloaded browser build), in a fresh profile directory removed afterwards.
 *
 * Missing Chromium: under CI (`CI=true`) the tests FAIL, with how to install it; elsewhere they are
 * skipped with a message saying so.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext } from 'playwright-core';

/** Where Chromium is expected (override with CHROMIUM_PATH). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True when the Chromium binary exists. */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

const MISSING = `Chromium not found at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH.`;

/** `it` when Chromium is there or under CI (where its absence must fail); otherwise a skip that says why. */
export function itWithChromium(name: string, fn: () => Promise<void>, timeout?: number): void {
  if (chromiumAvailable() || process.env.CI === 'true') {
    it(name, async () => {
      if (!chromiumAvailable()) throw new Error(`${MISSING} (CI=true: browser tests must not be skipped)`);
      await fn();
    }, timeout);
  } else {
    process.stderr.write(`skipping "${name}": ${MISSING}\n`);
    it.skip(`${name} [skipped: Chromium missing]`, fn);
  }
}

/** A headless Chromium with a fresh profile; `close()` ends it and removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(path.join(os.tmpdir(), 'authchart-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  return {
    context,
    close: async () => {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
