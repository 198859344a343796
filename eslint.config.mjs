// ESLint 9 flat config: @eslint/js recommended + typescript-eslint's type-checked
// recommended set, with the promise-safety rules a coordinator depends on made
// errors. Type information comes from tsconfig.json through the project service.
import eslint from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'src/generated/', // proto-loader-gen-types output (`npm run gen`)
    'data/',
    '.tmp/',
    // Plain-JS config files at the top (this file, ...).
    '*.{js,mjs,cjs}',
  ]),

  eslint.configs.recommended,

  {
    files: ['**/*.{ts,mts,cts}'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A lost promise in a coordinator is a lost decision or a lost retry.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },

  {
    // Tests: chai's `expect(x).to.be.true` style is an expression statement.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },

  {
    // Any other JavaScript that is not ignored above: no type-aware rules, Node globals.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer',
          'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'AbortController', 'structuredClone',
          'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
          'queueMicrotask', 'fetch', 'performance',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
