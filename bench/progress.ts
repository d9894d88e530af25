// Progress on the terminal: these runs take minutes, so every step says what it is doing, how
// far along the run is and how long it has taken. Goes to stderr so stdout stays the table.

export class Progress {
  private readonly t0 = performance.now();
  private done = 0;
  total = 0;

  constructor(private readonly quiet = false) {}

  private stamp(): string {
    const s = Math.round((performance.now() - this.t0) / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }

  section(title: string): void {
    if (!this.quiet) process.stderr.write(`\n[${this.stamp()}] ── ${title}\n`);
  }

  info(line: string): void {
    if (!this.quiet) process.stderr.write(`[${this.stamp()}]    ${line}\n`);
  }

  /** A counted measurement step: "[07/45] …". */
  step(line: string): void {
    this.done++;
    if (this.quiet) return;
    const w = String(this.total || this.done).length;
    const of = this.total ? `${String(this.done).padStart(w)}/${this.total}` : String(this.done);
    process.stderr.write(`[${this.stamp()}] [${of}] ${line}\n`);
  }

  warn(line: string): void {
    process.stderr.write(`[${this.stamp()}] !! ${line}\n`);
  }
}
