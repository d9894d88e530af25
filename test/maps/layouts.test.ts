// The committed layouts must be exactly what the current C headers compile to: regenerate from
// a fresh object (built the way the agent builds it) and compare byte for byte.
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateLayouts, LAYOUTS_FILE, LINKED_OBJECT } from '../../src/build/bpf.mjs';
import { compileSources, datapathSourceDir, linkObjects, packageRoot } from '../../src/loader/index.js';

let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('generated layouts', () => {
  it('equal the BTF of a freshly compiled datapath (run `npm run build` if this fails)', async () => {
    work = await mkdtemp(join(tmpdir(), 'pwlayouts-'));
    const objects = await compileSources(datapathSourceDir(), work);
    const linked = await linkObjects(join(work, LINKED_OBJECT), objects);
    const fresh = await generateLayouts(linked);
    const committed = await readFile(join(packageRoot(), LAYOUTS_FILE), 'utf8');
    expect(committed).toBe(fresh);
  });
});
