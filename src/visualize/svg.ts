/**
 * DOT → SVG with Graphviz compiled to WebAssembly (`@viz-js/viz`): no system Graphviz, same bytes on
 * every machine for the same input. The WASM instance is created once per process and reused.
 */
import type { Viz } from '@viz-js/viz' with { 'resolution-mode': 'import' };

let viz: Promise<Viz> | null = null;

/** @viz-js/viz's package is ESM-typed (with a CJS build): reach it through `import()`, which works from both. */
async function createViz(): Promise<Viz> {
  const { instance } = await import('@viz-js/viz');
  return instance();
}

/** Renders DOT text to an SVG document with the `dot` layout; throws with Graphviz's errors. */
export async function renderSvg(dot: string): Promise<string> {
  viz ??= createViz();
  const result = (await viz).render(dot, { format: 'svg', engine: 'dot' });
  if (result.status !== 'success') {
    const errors = result.errors.map((error) => `${error.level ?? 'error'}: ${error.message}`).join('; ');
    throw new Error(`Graphviz could not render the chart: ${errors}`);
  }
  const warnings = result.errors.filter((error) => error.level === 'warning');
  if (warnings.length > 0) throw new Error(`Graphviz warned while rendering the chart: ${warnings.map((w) => w.message).join('; ')}`);
  return result.output;
}
