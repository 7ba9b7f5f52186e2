import { accountFromClaims, decodeJwtPayload, readClaims } from '../../src/auth/jwt';
import { makeJwt } from '../support/jwt';

describe('JWT claims (docs/protocol.md §11)', () => {
  it('reads email, plan, account id, user id and exp', () => {
    const token = makeJwt({
      email: 'a@example.com',
      exp: 1700000000,
      'https://api.openai.com/auth': { chatgpt_plan_type: 'Enterprise', chatgpt_account_id: 'acc', chatgpt_user_id: 'u1', user_id: 'u0' },
    });
    expect(readClaims(token)).toEqual({ email: 'a@example.com', planType: 'Enterprise', accountId: 'acc', userId: 'u1', exp: 1700000000 });
    expect(accountFromClaims(readClaims(token))).toEqual({ email: 'a@example.com', planType: 'enterprise', accountId: 'acc', userId: 'u1' });
  });

  it('falls back to the profile email and to user_id', () => {
    const token = makeJwt({ 'https://api.openai.com/profile': { email: 'p@example.com' }, 'https://api.openai.com/auth': { user_id: 'u0' } });
    expect(readClaims(token)).toMatchObject({ email: 'p@example.com', userId: 'u0', planType: null, accountId: null, exp: null });
  });

  it('reads a missing plan as unknown and a missing email as null', () => {
    expect(accountFromClaims(readClaims(makeJwt({})))).toEqual({ email: null, planType: 'unknown', accountId: null, userId: null });
  });

  it.each([
    ['one.two', 'token must have three dot-separated segments, found 2'],
    ['.a.b', 'segment 1 of the token is empty'],
    ['a.b.', 'segment 3 of the token is empty'],
    ['a.b$.c', 'segment 2 of the token is not base64url'],
    [`a.${Buffer.from('nope').toString('base64url')}.c`, 'the token payload is not valid JSON'],
    [`a.${Buffer.from('"str"').toString('base64url')}.c`, 'the token payload is not a JSON object'],
  ])('rejects %s: %s', (token, message) => {
    expect(() => decodeJwtPayload(token)).toThrow(message);
  });

  it.each([
    [{ email: 1 }, 'claim email must be a string'],
    [{ exp: 'soon' }, 'claim exp must be a number'],
    [{ 'https://api.openai.com/auth': [] }, 'claim https://api.openai.com/auth must be an object'],
    [{ 'https://api.openai.com/auth': { chatgpt_account_id: 5 } }, 'claim https://api.openai.com/auth.chatgpt_account_id must be a string'],
  ])('rejects claims of the wrong type: %j', (payload, message) => {
    expect(() => readClaims(makeJwt(payload))).toThrow(message);
  });
});
