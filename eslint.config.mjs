// Lint rules that catch real bugs in Temporal code:
// - no-floating-promises: a forgotten `await` on a Temporal or AMQP call silently drops its failure.
// - workflow files may not import Node built-ins or I/O packages: workflow code must be deterministic;
//   anything with I/O belongs in an activity (the SDK's sandbox would fail such a bundle at run time,
//   this fails it at lint time, with the reason).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const ioPackages = ['amqplib', 'mongodb', 'pino', 'cli-progress', 'commander', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bin/**', '*.config.js', '*.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    },
  },
  {
    rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }] },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { process: 'readonly', module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...ioPackages].map((name) => ({
            name,
            message: 'workflow code must be deterministic and free of I/O: do this in an activity (src/activities).',
          })),
          patterns: [
            {
              group: ['**/activities', '**/activities/*', '**/adapters/*', '**/config/*', '**/local/*', '**/client/*', '**/receivers/*', '**/worker/*'],
              allowTypeImports: true,
              message: 'workflows may import only types from I/O modules; call activities through proxyActivities.',
            },
          ],
        },
      ],
    },
  },
);
