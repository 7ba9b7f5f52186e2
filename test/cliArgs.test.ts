import { parseAppServerArgs } from '../src/cli';

describe('parseAppServerArgs (the app-server command line read without commander)', () => {
  it.each([
    [['app-server'], {}],
    [['app-server', '--listen', 'stdio://'], { listen: 'stdio://' }],
    [['app-server', '--listen=stdio://', '--codex-home', '/h'], { listen: 'stdio://', codexHome: '/h' }],
    [['app-server', '--codex-home=/a=b'], { codexHome: '/a=b' }],
    [['app-server', '--listen', 'ws://x', '--listen', 'stdio://'], { listen: 'stdio://' }],
  ])('reads %j', (argv, options) => {
    expect(parseAppServerArgs(argv)).toEqual(options);
  });

  it.each([
    [[]],
    [['visualize']],
    [['--help']],
    [['app-server', '--help']],
    [['app-server', '--inspect']],
    [['app-server', '--listen']],
    [['app-server', '--codex-home', '--listen', 'stdio://']],
    [['app-server', 'extra']],
  ])('leaves %j to commander', (argv) => {
    expect(parseAppServerArgs(argv)).toBeNull();
  });
});
