/**
 * Newline-delimited framing (docs/protocol.md §1), pure: bytes in, complete lines out. Splits on `\n`
 * at the byte level (so a UTF-8 character split across chunks survives), strips one trailing `\r`,
 * skips blank lines, and drops a line longer than the cap without growing memory past it.
 */

/** Default cap on one line: 10 MiB. */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

/** What a chunk of input produced, in order. */
export type Frame = { kind: 'line'; text: string } | { kind: 'overflow'; bytes: number };

/**
 * Accumulates stream chunks and yields complete lines. It may keep views of a chunk until the line it
 * holds is complete: a chunk must not be changed once pushed (stream chunks never are).
 */
export class LineBuffer {
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes of the line being discarded because it passed the cap; -1 when not discarding. */
  private discarding = -1;

  constructor(private readonly maxLineBytes: number = MAX_LINE_BYTES) {}

  /** Feeds a chunk; returns the frames it completed. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    this.pushEach(chunk, (frame) => frames.push(frame));
    return frames;
  }

  /**
   * Feeds a chunk and hands over each frame it completes as soon as it is cut, before the next one (what
   * the stream readers use). Collecting a chunk's frames first kept every line of it alive until the
   * last was handled: under a pipelined burst, V8 then promoted that garbage to the old generation and
   * grew the young one, +9 MiB of peak RSS (docs/performance.md).
   */
  pushEach(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline !== -1 && this.size === 0 && this.discarding < 0 && newline - start <= this.maxLineBytes) {
        // The common case, a whole line inside the chunk: decoded straight from it (no view object).
        const end = newline > start && chunk[newline - 1] === 0x0d ? newline - 1 : newline;
        const frame = lineFrame(chunk.toString('utf8', start, end));
        if (frame) onFrame(frame);
        start = newline + 1;
        continue;
      }
      const end = newline === -1 ? chunk.length : newline;
      // Views, not copies, where a copy buys nothing: a piece whose line ends in this chunk is decoded
      // before this call returns, and a piece that is most of its chunk (a long line spans whole chunks)
      // pins little else; copying those held a long line twice. Only a short unfinished tail is copied,
      // so that it does not pin a whole chunk of the stream.
      const view = newline !== -1 || (end - start) * 2 >= chunk.length;
      this.append(chunk.subarray(start, end), view);
      if (newline === -1) break;
      const frame = this.takeLine();
      if (frame) onFrame(frame);
      start = newline + 1;
    }
  }

  /** Ends the input; a last line without `\n` is still a line. */
  end(): Frame[] {
    const frame = this.takeLine();
    return frame ? [frame] : [];
  }

  /** Bytes held for the unfinished line (bounded by the cap). */
  get pendingBytes(): number {
    return this.size;
  }

  private append(piece: Buffer, view: boolean): void {
    if (piece.length === 0) return;
    if (this.discarding >= 0) {
      this.discarding += piece.length;
      return;
    }
    if (this.size + piece.length > this.maxLineBytes) {
      this.discarding = this.size + piece.length;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(view ? piece : Buffer.from(piece));
    this.size += piece.length;
  }

  private takeLine(): Frame | null {
    if (this.discarding >= 0) {
      const bytes = this.discarding;
      this.discarding = -1;
      return { kind: 'overflow', bytes };
    }
    let line = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    return lineFrame(line.toString('utf8'));
  }
}

/** The frame of a line's text; null for a blank line. */
function lineFrame(text: string): Frame | null {
  return text.trim() === '' ? null : { kind: 'line', text };
}
