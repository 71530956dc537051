// Bundles every handler in functions/ into its own Lambda asset: dist/functions/<name>/index.mjs.
// Run by `npm run build`, by `cdk synth` (cdk.json) and by the CDK tests before they synthesize.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * pdfkit loads its standard fonts' metrics with a require() made by createRequire at run time, which
 * esbuild cannot follow: the bundle would look for pdfkit's files beside itself. The plugin turns each
 * into a static import of the same module, so the metrics are bundled.
 */
const pdfkitStandardFonts = {
  name: 'pdfkit-standard-fonts',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]pdfkit[\\/]js[\\/]pdfkit\.node\.mjs$/ }, (args) => {
      const names = new Set();
      const source = readFileSync(args.path, 'utf8').replace(
        /require\$1\('#standard-fonts\/(\w+)'\)/g,
        (_, name) => {
          names.add(name);
          return `__standardFont_${name}`;
        },
      );
      if (names.size === 0)
        throw new Error('pdfkit no longer loads its standard fonts as this plugin expects');
      const imports = [...names].map(
        (name) => `import __standardFont_${name} from 'pdfkit/standard-fonts/${name}';`,
      );
      return { contents: `${imports.join('\n')}\n${source}`, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * shared/documents/fonts.ts reads the invoice typefaces from node_modules, which a Lambda does not
 * have: in a bundle it becomes a module that embeds the same two files (esbuild's binary loader).
 */
const embeddedInvoiceFonts = {
  name: 'embedded-invoice-fonts',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]shared[\\/]documents[\\/]fonts\.ts$/ }, () => ({
      contents: [
        "import regular from 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf';",
        "import bold from 'dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf';",
        'export const invoiceFonts = () => ({ regular, bold });',
      ].join('\n'),
      loader: 'js',
      resolveDir: root,
    }));
  },
};

/**
 * The files of one function's bundle, from its esbuild metafile: `index.mjs` and the chunks it imports
 * statically (`eager`, all parsed at cold start) and the chunks loaded by a dynamic `import()` on first
 * use (`lazy`: the Stripe client, the tracer, the AWS SDK's other credential providers). Paths are
 * the metafile's keys; `.map` files are left out.
 */
export function bundleFiles(metafile) {
  const outputs = metafile.outputs;
  const entry = Object.keys(outputs).find((file) => file.endsWith('/index.mjs'));
  const eager = new Set();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop();
    if (eager.has(file)) continue;
    eager.add(file);
    for (const imported of outputs[file].imports) {
      if (imported.kind === 'import-statement' && outputs[imported.path]) pending.push(imported.path);
    }
  }
  const code = Object.keys(outputs).filter((file) => !file.endsWith('.map'));
  return { entry, eager: [...eager], lazy: code.filter((file) => !eager.has(file)) };
}

/**
 * Bundles the named handlers of functions/ (by default all of them) into `<outDir>/<name>/`. `extra`
 * maps more names to source files bundled with the same settings (the benchmark's baselines).
 */
export async function buildFunctions({
  names = handlerNames,
  outDir = outRoot,
  quiet = false,
  extra = {},
} = {}) {
  rmSync(outDir, { recursive: true, force: true });
  const sources = [
    ...names.map((name) => [name, join(root, 'functions', `${name}.ts`)]),
    ...Object.entries(extra),
  ];
  const results = await Promise.all(
    sources.map(([name, source]) =>
      build({
        entryPoints: [source],
        outdir: join(outDir, name),
        entryNames: 'index',
        chunkNames: 'chunk-[hash]',
        outExtension: { '.js': '.mjs' },
        bundle: true,
        // Each dynamic import() becomes a chunk beside index.mjs, read only when first called.
        splitting: true,
        // The AWS SDK's ES modules (its packages name them in "module"), not its CommonJS build,
        // which esbuild would wrap in closures that run at import, and could not tree-shake.
        mainFields: ['module', 'main'],
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
        plugins: [englishOnlyZod, pdfkitStandardFonts, embeddedInvoiceFonts],
        loader: { '.ttf': 'binary' },
        logLevel: quiet ? 'silent' : 'warning',
      }),
    ),
  );
  return sources.map(([name], i) => ({ name, metafile: results[i].metafile }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildFunctions();
  console.error(`esbuild: bundled ${built.length} functions into ${outRoot}`);
}
