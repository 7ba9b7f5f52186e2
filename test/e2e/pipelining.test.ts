/**
 * Requests a parent writes in one go, read to the end of input: every request is answered exactly once,
 * whatever arrives right behind it, and the process answers everything it read before it exits
 * (issue 11, defect 1: a rate-limit read followed by a logout or an API-key login in the same write was
 * never answered, and the process exited 0 with it unanswered).
 */
import { spawn } from 'node:child_process';
import { BIN } from '../support/appServer';
import { trackResources } from '../support/resources';

const track = trackResources();

const INITIALIZE = { id: 0, method: 'initialize', params: { clientInfo: { name: 't', version: '1' } } };

/** Writes `requests` as one chunk, closes stdin, and resolves with every stdout line and the exit code. */
function pipeline(codexHome: string, requests: object[]): Promise<{ lines: Array<Record<string, any>>; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'app-server'], { env: { ...process.env, CODEX_HOME: codexHome }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(requests.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ lines: stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)), code, stderr }));
  });
}

/** The answers per request id (a request answered twice shows up twice). */
function answersById(lines: Array<Record<string, any>>): Map<unknown, Array<Record<string, any>>> {
  const byId = new Map<unknown, Array<Record<string, any>>>();
  for (const line of lines.filter((l) => 'id' in l && !('method' in l))) byId.set(line.id, [...(byId.get(line.id) ?? []), line]);
  return byId;
}

describe('pipelined requests (every request answered exactly once)', () => {
  it('answers a rate-limit read written in one go with a logout behind it (regression: issue 11 defect 1)', async () => {
    const home = track.home();
    const { lines, code } = await pipeline(home.dir, [INITIALIZE, { id: 1, method: 'account/rateLimits/read' }, { id: 2, method: 'account/logout' }]);
    const answers = answersById(lines);
    expect([...answers.keys()].sort()).toEqual([0, 1, 2]);
    for (const list of answers.values()) expect(list).toHaveLength(1);
    expect(answers.get(1)![0]).toEqual({ id: 1, error: { code: -32600, message: 'codex account authentication required to read rate limits' } });
    expect(answers.get(2)![0]).toEqual({ id: 2, result: {} });
    expect(code).toBe(0);
  });

  it('answers rate-limit reads around an API-key login written in one go, each in the state it meets', async () => {
    const home = track.home();
    const { lines, code } = await pipeline(home.dir, [
      INITIALIZE,
      { id: 1, method: 'account/rateLimits/read' },
      { id: 2, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-pipelined' } },
      { id: 3, method: 'account/rateLimits/read', params: {} },
      { id: 4, method: 'account/logout' },
      { id: 5, method: 'account/rateLimits/read' },
    ]);
    const answers = answersById(lines);
    expect([...answers.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const list of answers.values()) expect(list).toHaveLength(1);
    expect(answers.get(2)![0]).toEqual({ id: 2, result: { type: 'apiKey' } });
    for (const id of [1, 3, 5]) expect(answers.get(id)![0].error.code).toBe(-32600);
    expect(code).toBe(0);
  });

  it('judges a rate-limit read in the state it arrived in, not in the state a logout right behind it leaves', async () => {
    const home = track.home();
    const { lines, code } = await pipeline(home.dir, [
      INITIALIZE,
      { id: 1, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-arrival' } },
      { id: 2, method: 'account/rateLimits/read' },
      { id: 3, method: 'account/logout' },
    ]);
    const answers = answersById(lines);
    expect(answers.get(2)).toEqual([{ id: 2, error: { code: -32600, message: 'chatgpt authentication required to read rate limits' } }]);
    expect(answers.get(3)).toEqual([{ id: 3, result: {} }]);
    expect(code).toBe(0);
  });

  it('answers a burst of 200 mixed requests written in one go, each exactly once', async () => {
    const home = track.home();
    const methods = [
      { method: 'account/rateLimits/read' },
      { method: 'account/read', params: {} },
      { method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-burst' } },
      { method: 'getAuthStatus', params: {} },
      { method: 'account/logout' },
      { method: 'account/login/cancel', params: { loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' } },
      { method: 'thread/start', params: {} },
    ];
    const requests = Array.from({ length: 200 }, (_, i) => ({ id: i + 1, ...methods[i % methods.length] }));
    const { lines, code } = await pipeline(home.dir, [INITIALIZE, ...requests]);
    const answers = answersById(lines);
    expect(answers.size).toBe(201);
    for (const [id, list] of answers) expect([id, list.length]).toEqual([id, 1]);
    expect(code).toBe(0);
  });
});
