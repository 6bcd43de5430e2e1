import { describe, expect, it } from 'vitest';
import { SyslogFramer, type Framing } from '../../src/inputs/syslog/framing.js';

function frames(chunks: Buffer[], maxBytes = 1024, framing?: Framing, badCounts: number[] = []): { out: Array<[string, boolean]>; incomplete: boolean } {
  const framer = new SyslogFramer(maxBytes, framing, (count) => badCounts.push(count));
  const out: Array<[string, boolean]> = [];
  const on = (b: Buffer, t: boolean) => out.push([b.toString('latin1'), t]);
  for (const c of chunks) framer.push(c, on);
  const incomplete = framer.end(on);
  return { out, incomplete };
}

/** Every way of cutting `data` in two. */
function everySplit(data: Buffer): Buffer[][] {
  return Array.from({ length: data.length + 1 }, (_, i) => [data.subarray(0, i), data.subarray(i)]);
}

describe('syslog TCP framing (RFC 6587)', () => {
  it('splits newline-framed messages (LF and CRLF) however the stream is chunked', () => {
    const data = Buffer.from('<13>one\n<14>two\r\n\n<15>three\n');
    for (const split of everySplit(data)) {
      expect(frames(split).out).toEqual([['<13>one', false], ['<14>two', false], ['<15>three', false]]);
    }
  });

  it('reads octet-counted frames, also mixed with newline frames per frame, however chunked', () => {
    const msg1 = '<13>1 - h a - - - with\nnewline inside';
    const data = Buffer.from(`${msg1.length} ${msg1}<14>plain line\n5 <15>x10 <16>012345`);
    for (const split of everySplit(data)) {
      expect(frames(split).out).toEqual([[msg1, false], ['<14>plain line', false], ['<15>x', false], ['<16>012345', false]]);
    }
  });

  it('a NUL ends a newline-framed message (the trailer some senders use), however chunked; inside an octet-counted one it is data', () => {
    const counted = '<15>a\0b';
    const data = Buffer.from(`<13>one\0<14>two\r\0\0\n<15>three\n${counted.length} ${counted}<16>four\0`);
    for (const split of everySplit(data)) {
      expect(frames(split).out).toEqual([['<13>one', false], ['<14>two', false], ['<15>three', false], [counted, false], ['<16>four', false]]);
    }
    // An over-long line is skipped up to its NUL: the next message is intact.
    expect(frames([Buffer.from(`<13>${'x'.repeat(300)}\0<14>next\0`)], 100).out).toEqual([[`<13>${'x'.repeat(96)}`, true], ['<14>next', false]]);
  });

  it('cuts an over-long line to max bytes, skips its rest, and keeps the next message intact', () => {
    const long = 'x'.repeat(5000);
    const { out } = frames([Buffer.from(`<13>${long.slice(0, 2000)}`), Buffer.from(`${long.slice(2000)}\n<14>next\n`)], 100);
    expect(out).toEqual([[`<13>${'x'.repeat(96)}`, true], ['<14>next', false]]);
  });

  it('cuts an over-long octet-counted frame and keeps the next one intact', () => {
    const body = '<14>' + 'y'.repeat(2996);
    const { out } = frames([Buffer.from(`${body.length} ${body}12 <14>next one`)], 100);
    expect(out).toEqual([['<14>' + 'y'.repeat(96), true], ['<14>next one', false]]);
  });

  it('a count above max bytes is no count when a line end within max bytes is followed by a frame (or the end): the messages after it are not swallowed, however chunked', () => {
    const data = Buffer.from('99999999 <13>bogus\r\n<13>next\n9999999999 <13>ten digits\n500 <14>nul\0<15>after\n12 <14>counted!');
    for (const split of everySplit(data)) {
      const bad: number[] = [];
      expect(frames(split, 100, 'auto', bad).out).toEqual([['<13>bogus', false], ['<13>next', false], ['<13>ten digits', false], ['<14>nul', false], ['<15>after', false], ['<14>counted!', false]]);
      expect(bad).toEqual([99999999, 9999999999, 500]);
    }
    // framing: octet_counting the same (its messages need not start with a PRI).
    const bad: number[] = [];
    expect(frames([Buffer.from('99999 {"a":1}\n7 {"b":2}')], 100, 'octet_counting', bad).out).toEqual([['{"a":1}', false], ['{"b":2}', false]]);
    expect(bad).toEqual([99999]);
  });

  it('a count above max bytes stands when no line end within max bytes is followed by a frame: cut there, the rest of the count skipped', () => {
    // A line end ends a line only where a line would end untruncated (max bytes before it); here the connection ends after it.
    const exact = '<14>' + 'y'.repeat(96);
    const bad: number[] = [];
    expect(frames([Buffer.from(`3000 ${exact}\n`)], 100, 'auto', bad).out).toEqual([[exact, false]]);
    expect(bad).toEqual([3000]);
    // Past max bytes, a line end followed by a PRI is part of the message.
    const body = `<14>${'y'.repeat(97)}\n<${'z'.repeat(197)}`;
    const data = Buffer.from(`${body.length} ${body}12 <14>next one`);
    for (const split of everySplit(data)) {
      const none: number[] = [];
      expect(frames(split, 100, 'auto', none).out).toEqual([[`<14>${'y'.repeat(96)}`, true], ['<14>next one', false]]);
      expect(none).toEqual([]);
    }
    // Cut short by the end of the connection before it was decided: passed on marked, reported incomplete.
    expect(frames([Buffer.from('5000 <13>part')], 100)).toEqual({ out: [['<13>part', true]], incomplete: true });
  });

  it('a line end inside an over-long octet-counted message (a stack trace) is data when no frame starts after it', () => {
    const trace = `<11>java.lang.IllegalStateException: boom\n\tat App.run(App.java:10)\n\tat App.main(App.java:3)\n${'\tat x\n'.repeat(100)}`;
    const data = Buffer.from(`${trace.length} ${trace}12 <14>next one16 <14>and the next`);
    for (const split of everySplit(data)) {
      const bad: number[] = [];
      expect(frames(split, 100, 'auto', bad).out).toEqual([[trace.slice(0, 100), true], ['<14>next one', false], ['<14>and the next', false]]);
      expect(bad).toEqual([]);
    }
  });

  it('a plain line that starts with a number and a space is a line, not an octet count swallowing the next ones', () => {
    const { out } = frames([Buffer.from('99999 junk\n<14>Nov 26 01:00:00 host app: good 0\n1764120000 web01 nginx: served\n200 OK plain\n<14>good 1\n')]);
    expect(out).toEqual([
      ['99999 junk', false],
      ['<14>Nov 26 01:00:00 host app: good 0', false],
      ['1764120000 web01 nginx: served', false],
      ['200 OK plain', false],
      ['<14>good 1', false],
    ]);
    // The byte that decides may come in the next read: an octet count split after its space still counts.
    expect(frames([Buffer.from('12 '), Buffer.from('<14>next one')]).out).toEqual([['<14>next one', false]]);
    expect(frames([Buffer.from('12 '), Buffer.from('plain text\n')]).out).toEqual([['12 plain text', false]]);
  });

  it('framing: octet_counting counts frames whose message has no PRI (rsyslog JSON and file-format templates), however chunked', () => {
    const json = '{"host":"vm", "msg":"json msg 1"}';
    const file = '2026-11-26T20:57:53+00:00 vm japp json msg 2';
    const data = Buffer.from(`${json.length} ${json}${file.length} ${file}`);
    for (const split of everySplit(data)) expect(frames(split, 1024, 'octet_counting').out).toEqual([[json, false], [file, false]]);
    // auto takes them for lines (the reviewer saw '34 {"host"...' with a parse error, and frames merged).
    expect(frames([data], 1024, 'auto').out).toEqual([[data.toString(), false]]);
  });

  it('framing: newline never counts octets: a line "12 <14>..." is a line', () => {
    expect(frames([Buffer.from('12 <14>next one\n5 <15>x\n')], 1024, 'newline').out).toEqual([['12 <14>next one', false], ['5 <15>x', false]]);
  });

  it('a last line without LF is a message after a clean close, and marked cut after a reset', () => {
    const framer = new SyslogFramer(1024);
    const out: Array<[string, boolean]> = [];
    framer.push(Buffer.from('<13>whole\n<13>half of a li'), (b, t) => out.push([b.toString(), t]));
    expect(framer.end((b, t) => out.push([b.toString(), t]), true)).toBe(true);
    expect(out).toEqual([['<13>whole', false], ['<13>half of a li', true]]);
  });

  it('passes on a frame cut short by the end of the connection, marked truncated and reported incomplete', () => {
    const cut = frames([Buffer.from('50 <13>only part')]);
    expect(cut.out).toEqual([['<13>only part', true]]);
    expect(cut.incomplete).toBe(true);
    const line = frames([Buffer.from('<13>no newline at the end')]);
    expect(line).toEqual({ out: [['<13>no newline at the end', false]], incomplete: false });
  });

  it('treats digits not followed by a space as the start of a line', () => {
    // (Digits and a space do start an octet count: RFC 6587 framing is ambiguous there, as in rsyslog.)
    expect(frames([Buffer.from('12345abc\n<13>ok\n')]).out).toEqual([['12345abc', false], ['<13>ok', false]]);
    expect(frames([Buffer.from('12345678901234 too many digits\n')]).out).toEqual([['12345678901234 too many digits', false]]);
  });
});
