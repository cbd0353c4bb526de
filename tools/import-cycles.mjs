#!/usr/bin/env node
// Import cycles among the workspaces' source files (the project's rule: no import cycles).
// `node tools/import-cycles.mjs` prints each cycle and exits 1 when there is one;
// tools/test/import-cycles.test.ts runs it over every package.
//
// Static imports and re-exports count, `import type` included: a type-only cycle does not break
// module initialisation, but it is the same tangle of concerns (a file that needs the whole image
// to name one field). Dynamic `import()` does not count: it is how modules load lazily.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts'];

/** The workspaces' package directories, from the root package.json's `workspaces` globs (`dir/*` or `dir`). */
function workspaceDirs(root) {
  const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [join(root, pattern)];
    const parent = join(root, pattern.slice(0, -2));
    return readdirSync(parent)
      .map((name) => join(parent, name))
      .filter((dir) => existsSync(join(dir, 'package.json')));
  });
}

/** Every source file under a directory (node_modules and dist left out). */
function sourceFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sourceFiles(path);
    return SOURCE_EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** A workspace package's exports as specifier -> source file (the `tessera-source` condition, as vitest resolves them). */
function packageEntries(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const entries = new Map();
  const exports = typeof pkg.exports === 'object' && pkg.exports !== null ? pkg.exports : {};
  for (const [subpath, target] of Object.entries(exports)) {
    const source = typeof target === 'object' && target !== null ? (target['tessera-source'] ?? target.types) : undefined;
    if (typeof source === 'string') entries.set(subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, resolve(dir, source));
  }
  return entries;
}

/** The specifiers a file imports statically (import, import type, export … from). */
function staticImports(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const specifiers = [];
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text);
    }
  }
  return specifiers;
}

function resolveSpecifier(from, specifier, entries) {
  if (entries.has(specifier)) return entries.get(specifier);
  if (!specifier.startsWith('.')) return undefined; // node builtins and third-party packages
  const base = resolve(dirname(from), specifier);
  const candidates = [base, ...SOURCE_EXTENSIONS.map((ext) => base + ext), ...SOURCE_EXTENSIONS.map((ext) => join(base, `index${ext}`))];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile());
}

/** The import graph of the workspaces' `src/` trees: file -> files it imports. */
export function importGraph(root) {
  root = resolve(root);
  const dirs = workspaceDirs(root);
  const entries = new Map(dirs.flatMap((dir) => [...packageEntries(dir)]));
  const graph = new Map();
  for (const file of dirs.flatMap((dir) => sourceFiles(join(dir, 'src')))) {
    const targets = new Set();
    for (const specifier of staticImports(file)) {
      const target = resolveSpecifier(file, specifier, entries);
      if (target && SOURCE_EXTENSIONS.some((ext) => target.endsWith(ext))) targets.add(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/**
 * The cycles of a graph: its strongly connected components of more than one file (or a file
 * importing itself), each given as one shortest cycle through its first file so the message is
 * short enough to act on, plus the component's size.
 */
export function findCycles(graph) {
  // Tarjan's algorithm, iterative (a deep import chain must not overflow the stack).
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work = [[start, [...(graph.get(start) ?? [])], 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const frame = work[work.length - 1];
      const [node, targets] = frame;
      if (frame[2] < targets.length) {
        const next = targets[frame[2]++];
        if (!graph.has(next)) continue;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push([next, [...graph.get(next)], 0]);
        } else if (onStack.has(next)) {
          low.set(node, Math.min(low.get(node), index.get(next)));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(node)));
      }
      if (low.get(node) === index.get(node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1 || graph.get(node).has(node)) components.push(component.sort());
      }
    }
  }
  return components.map((component) => ({ files: component, cycle: shortestCycle(graph, component) }));
}

/** A shortest path from a component's first file back to itself, inside the component (breadth first). */
function shortestCycle(graph, component) {
  const members = new Set(component);
  const start = component[0];
  const previous = new Map();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const next of graph.get(queue[i])) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [];
        for (let at = queue[i]; at !== start; at = previous.get(at)) path.unshift(at);
        return [start, ...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, queue[i]);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/** The cycles of the workspaces under root, file names relative to it. */
export function importCycles(root) {
  root = resolve(root);
  return findCycles(importGraph(root)).map(({ files, cycle }) => ({
    files: files.map((file) => relative(root, file)),
    cycle: cycle.map((file) => relative(root, file)),
  }));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const cycles = importCycles(root);
  for (const { files, cycle } of cycles) {
    console.log(`import cycle among ${files.length} files: ${cycle.join(' -> ')}`);
  }
  if (cycles.length) {
    console.log(`${cycles.length} import cycle(s): move what both sides need into a module that imports neither`);
    process.exitCode = 1;
  } else {
    console.log('no import cycles');
  }
}
