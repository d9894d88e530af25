// run() with stdin given as chunks: every chunk reaches the child in order, including more than a
// pipe buffer holds (the writer waits for drain), and a child that exits without reading does not
// hang the writer.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';

describe('run: chunked stdin', () => {
  it('writes every chunk in order, past the pipe buffer', async () => {
    function* chunks(): Generator<string> {
      for (let i = 0; i < 200; i++) yield `${String(i).padStart(4, '0')}:${'x'.repeat(4000)}\n`;
    }
    const r = await run('sha256sum', [], { input: chunks() });
    const want = await run('sha256sum', [], { input: [...chunks()].join('') });
    expect(r.stdout).toBe(want.stdout);
    const lines = (await run('wc', ['-l'], { input: chunks() })).stdout.trim();
    expect(lines).toBe('200');
  });

  it('a child that does not read its stdin still ends', async () => {
    function* many(): Generator<string> {
      for (let i = 0; i < 1000; i++) yield 'y'.repeat(65536);
    }
    const r = await run('true', [], { input: many(), reject: false });
    expect(r.exitCode).toBe(0);
  });
});
