// ESLint flat config: typescript-eslint's recommended rules; no console in library code
// (stdout belongs to the protocol; logs go through src/log.ts to stderr).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'visualizations/**', 'test-output/**', 'bench/results.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['machines/**/*.ts', 'src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // The full zod API costs ~20 ms of start-up once bundled; src/zod.ts re-exports zod/mini.
    files: ['machines/**/*.ts', 'src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'zod', message: "Import * as z from src/zod.ts (zod/mini): the full 'zod' costs ~20 ms of every start-up." }] }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
