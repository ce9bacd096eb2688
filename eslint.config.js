// Lint: typescript-eslint's recommended rules, plus the architecture's import direction
// (ARCHITECTURE.md "Code layout"): infra knows nothing of domain or api, domain nothing of api,
// and src/deps.ts (what every role shares) nothing of api. Formatting is Prettier's (.prettierrc).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const forbid = (...groups) => ({
  'no-restricted-imports': ['error', { patterns: groups.map(([pattern, message]) => ({ group: [pattern], message })) }],
});

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'web/dist/', 'sdk/dist/', '.data/', 'bench/results/', 'sdk/src/openapi.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Rows from knex and JSON from the wire are untyped at the edges; zod checks what matters.
      '@typescript-eslint/no-explicit-any': 'off',
      // Sanitizers match control characters on purpose (filenames, previews, Markdown).
      'no-control-regex': 'off',
    },
  },
  { files: ['src/infra/**/*.ts'], rules: forbid(['**/domain/**', 'infra must not import domain'], ['**/api/**', 'infra must not import api']) },
  { files: ['src/domain/**/*.ts'], rules: forbid(['**/api/**', 'domain must not import api']) },
  { files: ['src/deps.ts'], rules: forbid(['./api/**', 'deps.ts must not import api']) },
  { files: ['web/public/**/*.js'], languageOptions: { globals: { self: 'readonly', clients: 'readonly', console: 'readonly', URL: 'readonly' } } },
);
