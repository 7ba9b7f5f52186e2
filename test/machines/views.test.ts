import { createActor } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { activeStateText, sessionPath } from '../../machines/views';

describe('activeStateText (the inspector\'s #active-state rule)', () => {
  it('is the session path, without the mode wrapper, while the browser-login region is idle', () => {
    expect(activeStateText({ session: { mode: 'loggedOut' }, managedLogin: 'idle' })).toBe('loggedOut');
    expect(activeStateText({ session: { mode: { externalTokens: 'ready' } }, managedLogin: 'idle' })).toBe('externalTokens.ready');
    expect(activeStateText({ session: { mode: { chatgpt: { refreshing: 'waiting' } } }, managedLogin: 'idle' })).toBe('chatgpt.refreshing.waiting');
    expect(activeStateText({ session: 'savingApiKey', managedLogin: 'idle' })).toBe('savingApiKey');
  });

  it('reads the same as sessionPath for every state the chart reaches', () => {
    const actor = createActor(authMachine, { input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: { mode: 'apiKey' } } });
    actor.start();
    expect(activeStateText(actor.getSnapshot().value)).toBe(sessionPath(actor.getSnapshot()));
    expect(activeStateText(actor.getSnapshot().value)).toBe('apiKey');
    actor.stop();
  });

  it('is the whole state value as JSON otherwise', () => {
    expect(activeStateText({ session: { mode: 'apiKey' }, managedLogin: 'pending' })).toBe('{"session":{"mode":"apiKey"},"managedLogin":"pending"}');
    expect(activeStateText({ session: { a: 'x', b: 'y' }, managedLogin: 'idle' })).toBe('{"session":{"a":"x","b":"y"},"managedLogin":"idle"}');
    expect(activeStateText('flat')).toBe('flat');
    expect(activeStateText({ other: 'shape' })).toBe('{"other":"shape"}');
  });
});
