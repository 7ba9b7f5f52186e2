import { activeStateText } from '../../machines/views';

describe('activeStateText (the inspector\'s #active-state rule)', () => {
  it('is the session path while the browser-login region is idle', () => {
    expect(activeStateText({ session: 'loggedOut', browserLogin: 'idle' })).toBe('loggedOut');
    expect(activeStateText({ session: { externalTokens: 'ready' }, browserLogin: 'idle' })).toBe('externalTokens.ready');
    expect(activeStateText({ session: { chatgpt: { refreshing: 'waiting' } }, browserLogin: 'idle' })).toBe('chatgpt.refreshing.waiting');
  });

  it('is the whole state value as JSON otherwise', () => {
    expect(activeStateText({ session: 'apiKey', browserLogin: 'pending' })).toBe('{"session":"apiKey","browserLogin":"pending"}');
    expect(activeStateText({ session: { a: 'x', b: 'y' }, browserLogin: 'idle' })).toBe('{"session":{"a":"x","b":"y"},"browserLogin":"idle"}');
    expect(activeStateText('flat')).toBe('flat');
    expect(activeStateText({ other: 'shape' })).toBe('{"other":"shape"}');
  });
});
