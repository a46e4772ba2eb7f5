/**
 * The layers of umbra (docs/ARCHITECTURE.md, "Layers"), checked on the import graph of src/ and web/ as the
 * files are now: every `import … from`, `export … from`, `import '…'`, `import('…')` and `typeof import('…')`
 * with a literal specifier, type-only imports included (a type is as much a dependency as a value). A module
 * imports only modules of lower layers; wire formats are in src/protocol; the web app imports only the SDK's
 * package root (`umbra`); nothing imports a process entry (`main.ts`); the mix node and the gateway, beside
 * each other above the hop layer (src/hop) they are both built from, import nothing of each other; and no
 * role is loaded by a computed `import()`, which the type checker cannot follow. Known exceptions are listed by name with the work that removes them, and an exception that no
 * longer occurs fails too, so that it is deleted with the arrow.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The layers, lowest first. A module is a folder of src/ (or a file at its top); it may import only
 * modules of a lower layer, never one beside it or above it. A new folder must be placed here.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts'],
  ['bytes.ts'],
  ['codec'],
  // ops (configuration, logs, metrics, the injected clock) needs only errors.ts; it sits below the links,
  // whose timers read its clock.
  ['crypto', 'ops'],
  ['sphinx', 'mls', 'links'],
  ['directory', 'protocol'],
  ['hop'],
  ['client', 'mixnode', 'gateway'],
  ['delivery', 'index.ts'],
  ['devnet', 'privacy'],
  ['up'],
  ['cli'],
];

interface Arrow {
  /** Importing file, relative to the repository root with `/` separators. */
  readonly from: string;
  /** Imported file (relative path), or `umbra` for the package root. */
  readonly to: string;
}

interface Exception {
  readonly name: string;
  readonly matches: (arrow: Arrow) => boolean;
}

/**
 * Arrows still allowed by name (none now). Each goes when the work named removes it; the test then fails
 * until the exception is deleted here.
 */
const EXCEPTIONS: readonly Exception[] = [];

/** Computed `import()` calls allowed, by file: none of them loads a role. */
const COMPUTED_IMPORTS: Readonly<Record<string, string>> = {
  // The directory store (node:fs) is loaded only for a path, and hidden from bundlers, so that a browser
  // bundle of the vault never reaches a Node built-in.
  'src/crypto/vault.ts': 'keeps node:fs out of browser bundles',
};

function* sourceFiles(directory: string): Generator<string> {
  for (const entry of readdirSync(join(ROOT, directory), { withFileTypes: true })) {
    const path = posix.join(directory, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** The code with comments blanked out (strings and template literals kept, so specifiers survive). */
function withoutComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\n]+)\1/g;
const COMPUTED_IMPORT = /\bimport\s*\(\s*(?!['"])/g;

function specifiersOf(text: string): string[] {
  return [...withoutComments(text).matchAll(SPECIFIER)].map((match) => match[2] as string);
}

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  readonly name: string;
  readonly imports: Readonly<Record<string, Readonly<Record<string, string>>>>;
};

/** The files a specifier can resolve to (every condition of a package.json map), or none for a package. */
function targetsOf(file: string, specifier: string): string[] {
  if (specifier.startsWith('.')) {
    return [
      relative(ROOT, resolve(ROOT, dirname(file), specifier))
        .split('\\')
        .join('/'),
    ];
  }
  if (specifier === packageJson.name) return ['umbra'];
  if (specifier.startsWith(`${packageJson.name}/`))
    return [`umbra${specifier.slice(packageJson.name.length)}`];
  const mapped = packageJson.imports[specifier];
  if (mapped !== undefined) return Object.values(mapped).map((target) => posix.normalize(target));
  return [];
}

function importGraph(): Arrow[] {
  const arrows: Arrow[] = [];
  for (const file of [...sourceFiles('src'), ...sourceFiles('web')]) {
    for (const specifier of specifiersOf(readFileSync(join(ROOT, file), 'utf8'))) {
      for (const to of targetsOf(file, specifier)) arrows.push({ from: file, to });
    }
  }
  return arrows;
}

/** `src/<folder>` or `src/<file>` → its layer's module name; undefined outside src/. */
function moduleOf(path: string): string | undefined {
  const parts = path.split('/');
  return parts[0] === 'src' ? parts[1] : undefined;
}

function layerOf(module: string): number {
  const layer = LAYERS.findIndex((modules) => modules.includes(module));
  if (layer === -1)
    throw new Error(`src/${module} is in no layer: place it in LAYERS (docs/ARCHITECTURE.md)`);
  return layer;
}

const PROCESS_ENTRY = /(^|\/|-)main\.ts$/;

/** Why an arrow is forbidden, or undefined when the layers allow it. */
function violation(arrow: Arrow): string | undefined {
  const { from, to } = arrow;
  if (PROCESS_ENTRY.test(to)) return 'imports a process entry (main.ts): import the library it calls';
  if (from.startsWith('web/')) {
    if (to === 'umbra' || to.startsWith('web/')) return undefined;
    return "the web app imports only the SDK's package root, 'umbra'";
  }
  if (to === 'umbra' || to.startsWith('umbra/')) return 'src/ imports its own modules by path';
  const source = moduleOf(from);
  const target = moduleOf(to);
  if (source === undefined || target === undefined) return `outside src/ and web/: ${to}`;
  if (source === target) return undefined;
  if (layerOf(target) >= layerOf(source)) {
    return `src/${source} (layer ${layerOf(source)}) may not import src/${target} (layer ${layerOf(target)})`;
  }
  return undefined;
}

test('every module of src/ is in a layer, and the layers are as documented', () => {
  const modules = new Set(readdirSync(join(ROOT, 'src')));
  for (const module of modules) layerOf(module);
  for (const module of LAYERS.flat())
    assert.ok(modules.has(module), `LAYERS names src/${module}, which is gone`);
});

test('no import crosses the layers, except the named exceptions, each still needed', () => {
  const arrows = importGraph();
  assert.ok(arrows.length > 500, `the parser found only ${arrows.length} imports`);
  const used = new Set<string>();
  const forbidden: string[] = [];
  for (const arrow of arrows) {
    const why = violation(arrow);
    if (why === undefined) continue;
    const exception = EXCEPTIONS.find((candidate) => candidate.matches(arrow));
    if (exception === undefined) forbidden.push(`${arrow.from} → ${arrow.to}: ${why}`);
    else used.add(exception.name);
  }
  assert.deepEqual(forbidden, []);
  const stale = EXCEPTIONS.filter((exception) => !used.has(exception.name)).map(({ name }) => name);
  assert.deepEqual(stale, [], 'these exceptions no longer occur: delete them');
});

test('no computed import() outside the listed files (roles are imported by literal paths)', () => {
  const computed: string[] = [];
  for (const file of [...sourceFiles('src'), ...sourceFiles('web')]) {
    const code = withoutComments(readFileSync(join(ROOT, file), 'utf8'));
    if (code.match(COMPUTED_IMPORT) !== null && !Object.hasOwn(COMPUTED_IMPORTS, file)) computed.push(file);
  }
  assert.deepEqual(computed, []);
});

test('the rules refuse the arrows issue 13 names', () => {
  const refused: readonly Arrow[] = [
    { from: 'src/protocol/api.ts', to: 'src/delivery/store/types.ts' },
    { from: 'src/protocol/api.ts', to: 'src/gateway/services.ts' },
    { from: 'src/protocol/api.ts', to: 'src/hop/types.ts' },
    { from: 'src/protocol/api.ts', to: 'src/client/privacy.ts' },
    { from: 'src/protocol/api.ts', to: 'src/up/network.ts' },
    { from: 'src/client/carrier/mixnet.ts', to: 'src/gateway/gateway.ts' },
    { from: 'src/client/client.ts', to: 'src/delivery/service.ts' },
    { from: 'src/client/client.ts', to: 'src/mixnode/node.ts' },
    { from: 'src/client/client.ts', to: 'src/up/network.ts' },
    { from: 'src/codec/reader.ts', to: 'src/crypto/random.ts' },
    { from: 'src/codec/reader.ts', to: 'src/sphinx/geometry.ts' },
    { from: 'src/gateway/gateway.ts', to: 'src/mixnode/node.ts' },
    { from: 'src/gateway/role.ts', to: 'src/mixnode/index.ts' },
    { from: 'src/mixnode/node.ts', to: 'src/gateway/gateway.ts' },
    { from: 'src/hop/egress.ts', to: 'src/mixnode/node.ts' },
    { from: 'web/src/sdk.ts', to: 'src/up/network.ts' },
    { from: 'web/src/sdk.ts', to: 'src/client/storage.ts' },
    { from: 'src/up/network.ts', to: 'src/delivery/main.ts' },
    { from: 'src/cli/main.ts', to: 'src/gateway/main.ts' },
  ];
  for (const arrow of refused) assert.ok(violation(arrow), `${arrow.from} → ${arrow.to} passed`);
  const allowed: readonly Arrow[] = [
    { from: 'src/delivery/store/types.ts', to: 'src/protocol/records.ts' },
    { from: 'src/codec/reader.ts', to: 'src/bytes.ts' },
    { from: 'src/gateway/role.ts', to: 'src/hop/network-view.ts' },
    { from: 'src/mixnode/node.ts', to: 'src/hop/crypto-engine.ts' },
    { from: 'web/src/sdk.ts', to: 'umbra' },
    { from: 'src/cli/main.ts', to: 'src/gateway/role.ts' },
  ];
  for (const arrow of allowed) assert.equal(violation(arrow), undefined, `${arrow.from} → ${arrow.to}`);
});

test('the parser reads every form of import, and not those in comments', () => {
  const text = [
    "import a from './a.ts';",
    "import type { B } from './b.ts';",
    "export * from './c.ts';",
    'export { d } from "./d.ts";',
    "import './e.ts';",
    "const f = await import('./f.ts');",
    "type G = typeof import('./g.ts');",
    "import {\n  h,\n  type H,\n} from './h.ts';",
    "// import x from './comment.ts';",
    "/* export * from './block.ts'; */",
    "const url = 'http://example.com/' + '//not-a-comment';",
  ].join('\n');
  assert.deepEqual(specifiersOf(text), [
    './a.ts',
    './b.ts',
    './c.ts',
    './d.ts',
    './e.ts',
    './f.ts',
    './g.ts',
    './h.ts',
  ]);
});
