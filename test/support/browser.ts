/**
 * Headless Chromium for browser tests: Debian's `chromium` driven by playwright-core (never a downloaded
 * browser build), with a fresh profile each launch. Where Chromium is missing the suites are skipped,
 * except under CI=true, where they fail: CI installs it (.ci/run), so a missing browser is a broken CI.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian puts Chromium (override with CHROMIUM_PATH). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True when browser suites can run here. Under CI=true a missing Chromium throws instead of skipping. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`Chromium is missing at ${CHROMIUM}; CI must install it (apt-get install -y chromium, see .ci/run).`);
  }
  return false;
}

/** `describe` when Chromium is there, `describe.skip` otherwise (never skipped under CI=true). */
export const describeWithBrowser: jest.Describe = browserAvailable() ? describe : describe.skip;

/** A headless Chromium with a throw-away profile; `close()` removes both. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'authchart-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
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

/** The folder for files a person may want to look at after a run (gitignored). */
export function testOutputDir(): string {
  return path.resolve(__dirname, '../../test-output');
}
