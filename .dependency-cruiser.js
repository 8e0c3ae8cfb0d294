/**
 * Which room of the tree may import which, checked by `npm run depcheck` inside `npm test`
 * (test/dependencies.test.ts shows that a forbidden import fails it). The rooms are described in the README.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle makes loading one module load the others (the schedules module once loaded the worker, the exporter and the benchmarks).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-imports-nothing-of-ours',
      severity: 'error',
      comment: 'src/shared is the contract every role imports, workflow code included: it depends on nothing else of ours.',
      from: { path: '^src/shared/' },
      to: { path: '^(src|bench|test)/', pathNot: '^src/shared/' },
    },
    {
      name: 'workflows-import-only-shared',
      severity: 'error',
      comment: 'Workflow code is deterministic: besides other workflow code and src/shared it may import activity types, as types only.',
      from: { path: '^src/workflows/' },
      to: { path: '^(src|bench|test)/', pathNot: '^src/(shared|workflows|activities)/' },
    },
    {
      name: 'workflows-import-activities-as-types-only',
      severity: 'error',
      comment: 'Activities do I/O: a workflow names them through proxyActivities<typeof activities>, never imports their code.',
      from: { path: '^src/workflows/' },
      to: { path: '^src/activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'adapters-import-only-shared-and-config',
      severity: 'error',
      comment: 'An adapter wraps one outside system; it knows the contract and the configuration, not who uses it.',
      from: { path: '^src/adapters/' },
      to: { path: '^(src|bench|test)/', pathNot: '^src/(shared|config|adapters)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'src/cli is the operator command line; what it does lives in the client API and the other rooms, callable without commander.',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-the-cli-imports-the-benchmarks',
      severity: 'error',
      comment: 'The benchmarks are run by `tisw bench`; production code never loads them.',
      from: { pathNot: '^(src/cli|bench|test)/' },
      to: { path: '^bench/' },
    },
    {
      name: 'only-the-cli-imports-the-drills',
      severity: 'error',
      comment: 'The drills (src/drills) replay incidents on throwaway local resources for `tisw drill`; the old way reconstructed there must never be loaded by production code.',
      from: { pathNot: '^(src/cli|src/drills|test)/' },
      to: { path: '^src/drills/' },
    },
    {
      name: 'nothing-imports-the-tests',
      severity: 'error',
      comment: 'Test-only code (test/support) serves the tests; production and benchmarks never import it.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    // Type-only imports count too (workflows may import activity types, and only as types).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
