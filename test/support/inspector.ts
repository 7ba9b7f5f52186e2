/** Helpers for tests of the live inspector: its URL from stderr, and what a page shows. */
import type { Page } from 'playwright-core';
import type { AppServerProcess } from './appServer';

/** The little of the DOM these helpers touch inside the page (the project compiles without lib.dom). */
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  classList: { contains(name: string): boolean };
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { left: number; right: number; top: number; bottom: number; height: number };
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): { length: number } & Iterable<PageElement>;
};

/** Resolves with the inspector URL once the app-server has printed it on stderr. */
export function inspectorUrl(server: AppServerProcess): Promise<string> {
  const pattern = /inspector listening on (http:\/\/127\.0\.0\.1:\d+\/)/;
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = server.stderr.match(pattern);
      if (!match) return false;
      server.child.stderr.off('data', check);
      resolve(match[1]);
      return true;
    };
    if (check()) return;
    server.child.stderr.on('data', check);
    void server.exited.then(() => {
      if (!check()) reject(new Error(`the app-server exited before printing the inspector URL; stderr:\n${server.stderr}`));
    });
  });
}

/** Resolves once stderr contains `text`. */
export function stderrContains(server: AppServerProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!server.stderr.includes(text)) return false;
      server.child.stderr.off('data', check);
      resolve();
      return true;
    };
    if (check()) return;
    server.child.stderr.on('data', check);
    void server.exited.then(() => {
      if (!check()) reject(new Error(`the app-server exited before writing ${JSON.stringify(text)}; stderr:\n${server.stderr}`));
    });
  });
}

/** The text of `#active-state`. */
export function activeStateOf(page: Page): Promise<string | null> {
  return page.evaluate(() => document.getElementById('active-state')?.textContent ?? null);
}

/** Waits until `#active-state` reads exactly `text` (and says what it read instead on failure). */
export async function waitForActiveState(page: Page, text: string, timeout = 10000): Promise<void> {
  try {
    await page.waitForFunction((want) => document.getElementById('active-state')?.textContent === want, text, { timeout });
  } catch (error) {
    throw new Error(`#active-state never read ${JSON.stringify(text)}; it reads ${JSON.stringify(await activeStateOf(page))} (${(error as Error).message})`);
  }
}

/** Waits until the SVG element of a state node is (or is not) highlighted. */
export async function waitForHighlight(page: Page, stateNodeId: string, active = true, timeout = 10000): Promise<void> {
  await page.waitForFunction(
    ([id, want]) => document.getElementById(`state:${id}`)?.classList.contains('active') === want,
    [stateNodeId, active] as const,
    { timeout },
  );
}

/** A row of the page's event log. */
export interface LogRow {
  seq: number;
  event: string;
  before: string;
  after: string;
  guard: string;
  outcome: string;
  refused: boolean;
}

/** The event log, oldest first. */
export async function eventLog(page: Page): Promise<LogRow[]> {
  const rows = await page.$$eval('#event-log tbody tr', (trs) =>
    trs.map((tr) => {
      const row = tr as unknown as PageElement;
      return {
        seq: Number(row.dataset.seq),
        event: row.dataset.event ?? '',
        before: row.dataset.before ?? '',
        after: row.dataset.after ?? '',
        guard: row.dataset.guard ?? '',
        outcome: row.querySelector('.outcome')?.textContent ?? '',
        refused: row.classList.contains('refused'),
      };
    }),
  );
  return rows.sort((a, b) => a.seq - b.seq);
}

/** Waits until the event log has a row for step `seq` or later. */
export async function waitForLogRows(page: Page, count: number, timeout = 10000): Promise<void> {
  await page.waitForFunction((n) => document.querySelectorAll('#event-log tbody tr').length >= n, count, { timeout });
}

/** How the chart looks at the page's zoom: its smallest label, its box, and whether a state is in view. */
export interface ChartView {
  /** Height in CSS pixels of the smallest text of the chart as drawn on the page. */
  smallestLabelPx: number;
  /** Height of the chart's scrolling box. */
  boxHeight: number;
  /** True when the state's element lies wholly inside the chart's visible box. */
  stateVisible: boolean;
}

/** Measures the chart in the page (`stateNodeId`: the state whose visibility is checked). */
export function chartViewOf(page: Page, stateNodeId: string): Promise<ChartView> {
  return page.evaluate((id) => {
    const box = document.getElementById('chart')!.getBoundingClientRect();
    const heights = [...document.querySelectorAll('#chart svg text')].map((text) => text.getBoundingClientRect().height).filter((h) => h > 0);
    const state = document.getElementById(`state:${id}`)!.getBoundingClientRect();
    return {
      smallestLabelPx: Math.min(...heights),
      boxHeight: box.height,
      stateVisible: state.left >= box.left && state.right <= box.right && state.top >= box.top && state.bottom <= box.bottom,
    };
  }, stateNodeId);
}
