/**
 * What a test starts (fake servers, app-servers, temp CODEX_HOMEs) is registered here and stopped after
 * each test, last started first, whether the test passed or not.
 */
import { tempCodexHome, type AppServerProcess } from './appServer';
import type { TestParent } from './client';

/** Registers an afterEach that stops everything the returned helpers were given, in reverse order. */
export function trackResources() {
  const stops: (() => unknown)[] = [];
  afterEach(async () => {
    while (stops.length > 0) await stops.pop()!();
  });
  return {
    /** A fresh CODEX_HOME (with `config.toml` when given), removed after the test. */
    home(configToml?: string): ReturnType<typeof tempCodexHome> {
      const home = tempCodexHome(configToml);
      stops.push(home.cleanup);
      return home;
    },
    /** A fake HTTP server, closed after the test. */
    server<T extends { close(): Promise<void> }>(server: T): T {
      stops.push(() => server.close());
      return server;
    },
    /**
     * An app-server process spawned by the test, killed after it; every notification it sent must have
     * matched the wire schemas (what strict clients check).
     */
    process<T extends AppServerProcess>(server: T): T {
      stops.push(() => {
        server.kill();
        expect(server.schemaViolations).toEqual([]);
      });
      return server;
    },
    /** A spawned app-server, killed after the test. */
    parent(parent: TestParent): TestParent {
      stops.push(() => parent.client.kill());
      return parent;
    },
  };
}
