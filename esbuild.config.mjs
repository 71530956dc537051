// Bundles every handler in functions/ into its own Lambda asset: dist/functions/<name>/index.mjs.
// Run by `npm run build`, by `cdk synth` (cdk.json) and by the CDK tests before they synthesize.
import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const outRoot = join(root, 'dist', 'functions');

export const handlerNames = readdirSync(join(root, 'functions'))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => basename(file, '.ts'))
  .sort();

/**
 * zod re-exports every locale it has (`z.locales`, about 250 KiB minified) and uses only English
 * (its default error map); no handler sets another. The bundles get a locales module that holds
 * English alone, which takes a fifth off each bundle and its parse at cold start.
 */
const englishOnlyZod = {
  name: 'english-only-zod',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer)
        ? { path: join(args.resolveDir, args.path), namespace: 'english-only-zod' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'english-only-zod' }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(args.path),
    }));
  },
};

export async function buildFunctions({ names = handlerNames, outDir = outRoot, quiet = false } = {}) {
  rmSync(outDir, { recursive: true, force: true });
  const results = await Promise.all(
    names.map((name) =>
      build({
        entryPoints: [join(root, 'functions', `${name}.ts`)],
        outfile: join(outDir, name, 'index.mjs'),
        bundle: true,
        platform: 'node',
        // Lambda's Node.js 22 runtime; ESM output so middy (ESM-only) bundles without shims.
        target: 'node22',
        format: 'esm',
        minify: true,
        treeShaking: true,
        sourcemap: true,
        metafile: true,
        legalComments: 'none',
        // Some bundled CommonJS dependencies call require() for Node built-ins.
        banner: {
          js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        },
        plugins: [englishOnlyZod],
        logLevel: quiet ? 'silent' : 'warning',
      }),
    ),
  );
  return names.map((name, i) => ({ name, metafile: results[i].metafile }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildFunctions();
  console.error(`esbuild: bundled ${built.length} functions into ${outRoot}`);
}
